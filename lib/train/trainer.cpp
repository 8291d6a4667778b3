#include "train/trainer.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <future>
#include <filesystem>
#include <iomanip>
#include <memory>
#include <ostream>
#include <random>
#include <sstream>

#include "errors.hpp"
#include "runtime/threads.hpp"
#include "tasks/atomic_file.hpp"
#include "train/augment.hpp"
#include "train/checkpoint.hpp"
#include "train/cross_entropy.hpp"
#include "train/distillation.hpp"
#include "train/init_from.hpp"
#include "train/linear_probe.hpp"
#include "train/train_models.hpp"
#include "train/validation_folder.hpp"

namespace vitc::train {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

std::string rng_state(const std::mt19937_64& rng) {
    std::ostringstream s;
    s << rng;
    return s.str();
}

std::mt19937_64 rng_from(const std::string& state) {
    std::mt19937_64 rng;
    std::istringstream s(state);
    s >> rng;
    return rng;
}

// Per-channel mean and standard deviation of the training images, in units of 1/255.
void channel_statistics(const ImageDataset& d, const std::vector<uint32_t>& images, std::vector<float>& mean,
                        std::vector<float>& stddev) {
    const size_t plane = static_cast<size_t>(d.height) * d.width;
    mean.assign(d.channels, 0.0f);
    stddev.assign(d.channels, 1.0f);
    for (int c = 0; c < d.channels; ++c) {
        double sum = 0, squares = 0;
        for (uint32_t i : images) {
            const uint8_t* p = d.image(i) + c * plane;
            uint64_t s = 0, q = 0;
            for (size_t k = 0; k < plane; ++k) s += p[k], q += uint32_t(p[k]) * p[k];
            sum += static_cast<double>(s);
            squares += static_cast<double>(q);
        }
        const double n = static_cast<double>(images.size()) * plane * 255.0;
        const double m = sum / n, variance = squares / (n * 255.0) - m * m;
        mean[c] = static_cast<float>(m);
        stddev[c] = static_cast<float>(std::sqrt(std::max(variance, 1e-6)));
    }
}

// A well-mixed 64-bit value from a few integers (splitmix64's finaliser), to seed one image's draw.
uint64_t mix(uint64_t a, uint64_t b) {
    uint64_t z = a * 0x9E3779B97F4A7C15ull + b + 0x632BE59BD9B4E019ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

// images [n, C, H, W] = (pixel / 255 - mean[c]) / std[c], the same as vitc's preprocessing, after
// the augmentation (none for validation); image b of the batch draws from seed mix(draw, b).
void fill_batch(const ImageDataset& d, const FeatureTable* features, const uint32_t* indices, int n,
                const Augmentation& augmentation, uint64_t draw, const std::vector<float>& mean,
                const std::vector<float>& stddev, float* images, int* labels) {
    if (features) return features->fill(d, indices, n, images, labels);  // --freeze-backbone: cached features
    for (int b = 0; b < n; ++b) {
        augment_and_normalise(d.image(indices[b]), d.channels, d.height, d.width, augmentation, mix(draw, b), mean,
                              stddev, images + b * d.image_bytes());
        labels[b] = d.labels[indices[b]];
    }
}

std::string format_seconds(double s) {
    const auto t = static_cast<int64_t>(s + 0.5);
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, "%d:%02d", static_cast<int>(t / 60), static_cast<int>(t % 60));
    return buffer;
}

}  // namespace

std::string checkpoint_file(const std::string& out) { return (fs::path(out) / "checkpoint.vitc").string(); }
std::string train_log_file(const std::string& out) { return (fs::path(out) / "train_log.jsonl").string(); }

int run_training(const TrainOptions& o, const std::atomic<bool>& stop, std::ostream& out,
                 const std::function<void(int64_t)>& after_step) {
    if (o.epochs < 1) throw Error("--epochs must be at least 1");
    if (o.batch_size < 1) throw Error("--batch-size must be at least 1");
    if (!(o.val_split >= 0.0f && (o.val_split < 1.0f || o.val_split == std::floor(o.val_split))))
        throw Error("--val-split must be a fraction in [0, 1) or a whole number of images");
    if (!(o.label_smoothing >= 0.0f && o.label_smoothing < 1.0f)) throw Error("--label-smoothing must be in [0, 1)");
    if (!(o.optimizer.lr > 0.0f)) throw Error("--lr must be positive");
    if (o.freeze_backbone && o.init_from.empty())
        throw Error("--freeze-backbone needs --init-from MODEL_DIR (it trains the head of a pretrained model)");
    if (!o.init_from.empty() && o.image_size) throw Error("--image-size: --init-from's model fixes the input size");
    if (!o.distill_from.empty() && o.freeze_backbone)
        throw Error("--distill-from and --freeze-backbone exclude each other (the probe trains on features, not images)");
    if (!(o.distill_weight > 0.0f && o.distill_weight <= 1.0f)) throw Error("--distill-weight must be in (0, 1]");

    // The data, decoded once, at the architecture's size when a config.json fixes it.
    const auto load_start = Clock::now();
    std::error_code ec;
    // --init-from: the model directory fixes the input size, the normalisation and the first weights.
    std::unique_ptr<PretrainedModel> pretrained;
    if (!o.init_from.empty()) pretrained = std::make_unique<PretrainedModel>(read_pretrained(o.init_from));
    ArchitectureInput input = pretrained ? pretrained->input() : architecture_input(o.arch);
    if (o.image_size) {
        if (input.height && (input.height != o.image_size || input.width != o.image_size))
            throw Error("--image-size " + std::to_string(o.image_size) + " differs from " + o.arch + "'s image size " +
                        std::to_string(input.width) + "x" + std::to_string(input.height));
        input.height = input.width = o.image_size;
    }
    ImageDataset data = o.dataset ? *o.dataset : load_dataset(o.data, input.channels, input.height, input.width, o.limits);
    // --val DIR: its images follow the training ones in `data`, decoded the same way.
    const size_t val_begin = o.val.empty() ? data.size() : append_validation_folder(data, o.val, o.limits);
    std::string head_note;
    std::unique_ptr<TrainModel> model = pretrained ? pretrained_train_model(*pretrained, data.class_names, head_note)
                                                   : make_train_model(o.arch, data);
    out << "data: " << data.size() << " images of " << data.width << "x" << data.height << "x" << data.channels
        << ", " << data.class_names.size() << " classes, decoded in " << std::fixed << std::setprecision(1)
        << seconds_since(load_start) << " s";
    if (val_begin < data.size()) out << "; " << data.size() - val_begin << " of them from " << o.val << " (--val)";
    if (!data.skipped.empty()) out << "; skipped " << data.skipped.size() << " (first: " << data.skipped.front() << ")";
    out << "\n";
    if (pretrained) out << "fine-tuning " << o.init_from << ": " << head_note << "\n";

    // A seeded split: the same seed gives the same validation images.
    std::mt19937_64 rng(o.seed);
    std::vector<uint32_t> order(val_begin);
    for (uint32_t i = 0; i < order.size(); ++i) order[i] = i;
    if (!o.subset.empty()) order = o.subset;
    std::shuffle(order.begin(), order.end(), rng);
    if (o.limit > 0 && static_cast<size_t>(o.limit) < order.size()) order.resize(o.limit);
    // --val-split below 1 is a fraction of the images, from 1 up a count of them.
    const double val_wanted = o.val_split < 1.0f ? std::floor(o.val_split * order.size()) : o.val_split;
    if (o.val.empty() && val_wanted >= static_cast<double>(order.size()))
        throw Error("--val-split " + std::to_string(static_cast<int64_t>(val_wanted)) + " leaves no training images (" +
                    std::to_string(order.size()) + " in all)");
    const auto val_count = o.val.empty() ? static_cast<size_t>(val_wanted) : 0;
    std::vector<uint32_t> val(order.begin(), order.begin() + val_count), train(order.begin() + val_count, order.end());
    for (size_t i = val_begin; i < data.size(); ++i) val.push_back(static_cast<uint32_t>(i));  // --val DIR
    if (train.empty()) throw Error("no training images left after the validation split");
    const int batch = static_cast<int>(std::min<size_t>(o.batch_size, train.size()));
    const int64_t steps_per_epoch = static_cast<int64_t>(train.size() / batch);
    const int64_t total_steps = steps_per_epoch * o.epochs;
    const auto warmup_steps = static_cast<int64_t>(std::llround(o.warmup_epochs * steps_per_epoch));
    std::vector<float> mean, stddev;
    if (pretrained) mean = pretrained->mean, stddev = pretrained->std;  // the model's own normalisation
    else channel_statistics(data, train, mean, stddev);

    // --freeze-backbone: the head alone trains, on the backbone's features computed here once.
    std::unique_ptr<FeatureTable> features;
    if (o.freeze_backbone) {
        if (o.augment.any())
            out << "note: --augment " << o.augment.describe() << " is not applied: --freeze-backbone computes each image's "
                << "features once, unaugmented\n";
        auto probe = std::make_unique<LinearProbe>(std::move(model), o.seed + 1);
        std::vector<uint32_t> images = train;
        images.insert(images.end(), val.begin(), val.end());
        features = std::make_unique<FeatureTable>(
            probe->compute_features(data, images, mean, stddev, batch, {o.attention, o.precision}, out, o.progress));
        model = std::move(probe);
    }

    // --distill-from: the teacher, checked against the data; its accuracy on the validation images
    // says what the student is distilled from.
    std::unique_ptr<Teacher> teacher;
    if (!o.distill_from.empty()) {
        teacher = std::make_unique<Teacher>(o.distill_from, data.class_names, data.channels, data.height, data.width,
                                            mean, stddev, o.precision);
        out << "distilling from " << o.distill_from << " (" << teacher->summary() << "): loss = " << std::setprecision(2)
            << 1.0f - o.distill_weight << " x cross-entropy with the labels + " << o.distill_weight
            << " x with the teacher's top-1";
        if (!val.empty()) {
            std::vector<float> buffer(static_cast<size_t>(batch) * data.image_bytes());
            std::vector<int> labels(batch), top1(batch);
            int64_t agree = 0;
            for (size_t start = 0; start < val.size(); start += batch) {
                const int n = static_cast<int>(std::min<size_t>(batch, val.size() - start));
                fill_batch(data, nullptr, val.data() + start, n, Augmentation{}, 0, mean, stddev, buffer.data(), labels.data());
                teacher->predict(buffer.data(), n, top1.data());
                for (int b = 0; b < n; ++b) agree += top1[b] == labels[b];
            }
            out << "; the teacher's validation accuracy " << std::setprecision(1) << 100.0 * agree / val.size() << "%";
        }
        out << "\n";
    }

    const ParameterLayout& layout = model->parameters();
    std::vector<float> parameters(layout.size()), gradients(layout.size(), 0.0f), state(model->state().size());
    model->initialise(parameters.data(), state.data(), o.seed + 1);
    Optimizer optimizer(layout, o.optimizer);

    // Everything that must match for --resume to continue the same run.
    nlohmann::json settings = {
        {"architecture", model->config()}, {"labels", data.class_names}, {"seed", o.seed}, {"batch", batch}, {"epochs", o.epochs},
        {"lr", o.optimizer.lr}, {"weight_decay", o.optimizer.weight_decay}, {"clip", o.optimizer.clip_norm},
        {"optimizer", o.optimizer.kind == OptimizerKind::AdamW ? "adamw" : "sgd"},
        {"warmup_steps", warmup_steps}, {"label_smoothing", o.label_smoothing}, {"augment", o.augment.describe()}, {"train_images", train.size()},
        {"val_images", val.size()}, {"mean", mean}, {"std", stddev}, {"val", o.val},
        {"init_from", pretrained ? pretrained->fingerprint : ""}, {"freeze_backbone", o.freeze_backbone}};
    // Only when distilling, so that checkpoints written before --distill-from existed still resume.
    if (teacher) {
        settings["distill_from"] = teacher->fingerprint();
        settings["distill_weight"] = o.distill_weight;
    }

    int epoch = 0;
    int64_t batch_in_epoch = 0, step = 0, best_epoch = 0;
    std::string epoch_rng = rng_state(rng);  // the state the epoch's shuffle starts from
    double loss_sum = 0, best_accuracy = -1, best_loss = 0, epoch_seconds = 0;
    int64_t correct = 0, seen = 0;
    std::vector<std::string> log_lines;

    const std::string checkpoint_path = checkpoint_file(o.out);
    if (o.resume) {
        const Checkpoint c = read_checkpoint(checkpoint_path);
        const nlohmann::json& s = c.state;
        for (const auto& [key, value] : settings.items())
            if (!s.at("settings").contains(key) || s.at("settings").at(key) != value)
                throw Error(checkpoint_path + ": the checkpoint was made with another " + key + " (" +
                            s.at("settings").value(key, nlohmann::json()).dump() + ", now " + value.dump() + ")");
        for (const auto& [key, value] : s.at("settings").items())
            if (!settings.contains(key))
                throw Error(checkpoint_path + ": the checkpoint was made with " + key + " " + value.dump() +
                            (key.rfind("distill", 0) == 0 ? "; pass the same --distill-from and --distill-weight" : ""));
        if (c.parameters.size() != parameters.size() || c.first_moment.size() != optimizer.first_moment().size() ||
            c.second_moment.size() != optimizer.second_moment().size() || c.model_state.size() != state.size())
            throw Error(checkpoint_path + ": parameter count does not match the architecture");
        parameters = c.parameters;
        state = c.model_state;
        optimizer.first_moment() = c.first_moment;
        optimizer.second_moment() = c.second_moment;
        epoch = s.at("epoch");
        batch_in_epoch = s.at("batch_in_epoch");
        step = s.at("step");
        optimizer.set_steps(step);
        epoch_rng = s.at("epoch_rng");
        loss_sum = s.at("loss_sum");
        correct = s.at("correct");
        seen = s.at("seen");
        best_accuracy = s.at("best_accuracy");
        best_loss = s.at("best_loss");
        best_epoch = s.at("best_epoch");
        epoch_seconds = s.at("epoch_seconds");
        log_lines = s.at("log").get<std::vector<std::string>>();
        if (s.at("threads") != runtime::max_threads())
            out << "note: the checkpoint was written with " << s.at("threads") << " threads, this run has "
                << runtime::max_threads() << "; the weights will differ slightly from an uninterrupted run\n";
        out << "resuming at epoch " << epoch + 1 << ", step " << step << "\n";
    } else if (fs::exists(checkpoint_path, ec)) {
        throw Error(checkpoint_path + " exists: pass --resume to continue that run, or choose another --out");
    }
    fs::create_directories(o.out, ec);
    if (ec) throw Error(o.out + ": cannot create: " + ec.message());

    auto save_checkpoint = [&]() {
        nlohmann::json position = {{"version", 2}, {"settings", settings}, {"epoch", epoch},
                                {"batch_in_epoch", batch_in_epoch}, {"step", step}, {"epoch_rng", epoch_rng},
                                {"loss_sum", loss_sum}, {"correct", correct}, {"seen", seen},
                                {"best_accuracy", best_accuracy}, {"best_loss", best_loss}, {"best_epoch", best_epoch},
                                {"epoch_seconds", epoch_seconds}, {"log", log_lines},
                                {"threads", runtime::max_threads()}};
        write_checkpoint(checkpoint_path, {position, parameters, optimizer.first_moment(), optimizer.second_moment(), state});
    };

    const SessionOptions session_options{o.attention, o.precision};
    const std::unique_ptr<TrainSession> session = model->session(batch, session_options);
    std::unique_ptr<TrainSession> remainder;  // validation's last, smaller batch
    const int64_t K = model->classes();
    // Two batch buffers: a worker thread prepares the next batch (augmentation, normalisation)
    // while this one computes.
    std::vector<float> images[2], dlogits(batch * K);
    std::vector<int> teacher_top1(teacher ? batch : 0);
    std::vector<int> labels[2];
    for (int slot = 0; slot < 2; ++slot) {
        images[slot].resize(static_cast<size_t>(batch) * (features ? features->width() : data.image_bytes()));
        labels[slot].resize(batch);
    }
    out << "training: " << train.size() << " images (" << steps_per_epoch << " steps of " << batch
        << " per epoch), validating on " << val.size() << "; " << layout.count() << " parameters, "
        << runtime::thread_count_text() << ", precision " << precision_name(o.precision) << std::endl;

    for (; epoch < o.epochs; ++epoch) {
        std::mt19937_64 epoch_generator = rng_from(epoch_rng);
        std::vector<uint32_t> shuffled = train;
        std::shuffle(shuffled.begin(), shuffled.end(), epoch_generator);
        const auto epoch_start = Clock::now();
        float lr = scheduled_learning_rate(o.optimizer.lr, std::max<int64_t>(step - 1, 0), warmup_steps, total_steps);
        auto prepare = [&](int64_t b) {
            const int slot = static_cast<int>(b % 2);
            fill_batch(data, features.get(), shuffled.data() + b * batch, batch, o.augment, mix(o.seed, epoch * steps_per_epoch + b),
                       mean, stddev, images[slot].data(), labels[slot].data());
        };
        std::future<void> next;
        if (batch_in_epoch < steps_per_epoch) next = std::async(std::launch::async, prepare, batch_in_epoch);
        for (; batch_in_epoch < steps_per_epoch; ++batch_in_epoch) {
            next.get();
            if (batch_in_epoch + 1 < steps_per_epoch) next = std::async(std::launch::async, prepare, batch_in_epoch + 1);
            const int slot = static_cast<int>(batch_in_epoch % 2);
            if (teacher) teacher->predict(images[slot].data(), batch, teacher_top1.data());
            const float* logits = session->forward(parameters.data(), state.data(), images[slot].data(), Mode::Train);
            const LossResult r = cross_entropy(logits, labels[slot].data(), batch, K, o.label_smoothing, dlogits.data(),
                                               {teacher ? teacher_top1.data() : nullptr, o.distill_weight});
            if (!std::isfinite(r.loss)) {
                std::ostringstream m;
                m << "step " << step + 1 << " (epoch " << epoch + 1 << ", batch " << batch_in_epoch + 1
                  << "): the loss is " << r.loss << "; stopped. "
                  << (epoch > 0 || o.resume ? "The last good checkpoint is " + checkpoint_path
                                            : std::string("No checkpoint was written yet"))
                  << "; a lower --lr may help";
                throw Error(m.str());
            }
            session->backward(parameters.data(), gradients.data(), dlogits.data());
            clip_by_global_norm(gradients.data(), gradients.size(), o.optimizer.clip_norm);
            lr = scheduled_learning_rate(o.optimizer.lr, step, warmup_steps, total_steps);
            optimizer.step(parameters.data(), gradients.data(), lr);
            ++step;
            loss_sum += r.loss * batch;
            correct += r.correct;
            seen += batch;
            if (after_step) after_step(step);
            if (o.progress) {
                const double elapsed = epoch_seconds + seconds_since(epoch_start);
                const double rate = seen / std::max(elapsed, 1e-9);
                out << "\repoch " << epoch + 1 << "/" << o.epochs << " [" << batch_in_epoch + 1 << "/"
                    << steps_per_epoch << "] loss " << std::setprecision(4) << loss_sum / seen << " acc "
                    << std::setprecision(1) << 100.0 * correct / seen << "% " << std::setprecision(0) << rate
                    << " img/s ETA " << format_seconds((total_steps - step) * batch / rate) << "   " << std::flush;
            }
            if (stop.load()) {
                ++batch_in_epoch;
                epoch_seconds += seconds_since(epoch_start);
                save_checkpoint();
                out << (o.progress ? "\n" : "") << "interrupted at step " << step << "; checkpoint written to "
                    << checkpoint_path << " (continue with --resume)\n";
                return 130;
            }
        }
        epoch_seconds += seconds_since(epoch_start);
        if (o.progress) out << "\r" << std::string(100, ' ') << "\r";

        // Validation in batches of the training size, then one smaller batch.
        double val_loss = 0;
        int64_t val_correct = 0;
        for (size_t start = 0; start < val.size(); start += batch) {
            const int n = static_cast<int>(std::min<size_t>(batch, val.size() - start));
            TrainSession* s = session.get();
            if (n != batch) {
                if (!remainder || remainder->batch() != n) remainder = model->session(n, session_options);
                s = remainder.get();
            }
            fill_batch(data, features.get(), val.data() + start, n, Augmentation{}, 0, mean, stddev, images[0].data(), labels[0].data());
            const LossResult r = cross_entropy(s->forward(parameters.data(), state.data(), images[0].data(), Mode::Eval), labels[0].data(), n, K, 0.0f, nullptr);
            val_loss += r.loss * n;
            val_correct += r.correct;
        }
        const bool validated = !val.empty();
        const double val_accuracy = validated ? static_cast<double>(val_correct) / val.size() : 0.0;
        nlohmann::json line = {{"epoch", epoch + 1}, {"train_loss", loss_sum / seen},
                               {"train_accuracy", static_cast<double>(correct) / seen},
                               {"val_loss", validated ? nlohmann::json(val_loss / val.size()) : nlohmann::json()},
                               {"val_accuracy", validated ? nlohmann::json(val_accuracy) : nlohmann::json()},
                               {"lr", lr}, {"images_per_second", seen / epoch_seconds}, {"seconds", epoch_seconds}};
        log_lines.push_back(line.dump());
        out << "epoch " << epoch + 1 << "/" << o.epochs << "  train loss " << std::setprecision(4) << loss_sum / seen
            << " acc " << std::setprecision(1) << 100.0 * correct / seen << "%";
        if (validated)
            out << "  val loss " << std::setprecision(4) << val_loss / val.size() << " acc " << std::setprecision(1)
                << 100.0 * val_accuracy << "%";
        out << "  lr " << std::scientific << std::setprecision(2) << lr << std::fixed << "  " << std::setprecision(0)
            << seen / epoch_seconds << " img/s  " << std::setprecision(1) << epoch_seconds << " s" << std::endl;

        // The best epoch: the highest validation accuracy, ties going to the lower validation loss.
        const double val_mean_loss = validated ? val_loss / val.size() : 0.0;
        if (!validated || val_accuracy > best_accuracy || (val_accuracy == best_accuracy && val_mean_loss < best_loss)) {
            best_accuracy = val_accuracy;
            best_loss = val_mean_loss;
            best_epoch = epoch + 1;
            model->write_model_directory(o.out, parameters.data(), state.data(), mean, stddev);
        }
        // The next epoch's shuffle continues the generator from where this one left it.
        epoch_rng = rng_state(epoch_generator);
        batch_in_epoch = 0;
        loss_sum = 0, correct = 0, seen = 0, epoch_seconds = 0;
        {
            AtomicFile log(train_log_file(o.out));
            for (const std::string& l : log_lines) log.stream() << l << "\n";
            log.commit();
        }
        const int finished = epoch + 1;
        epoch = finished;  // the checkpoint records the next epoch to run
        save_checkpoint();
        epoch = finished - 1;
        if (stop.load() && finished < o.epochs) {
            out << "interrupted after epoch " << finished << "; checkpoint written to " << checkpoint_path
                << " (continue with --resume)\n";
            return 130;
        }
    }
    out << "done: " << (val.empty() ? "the last" : "the best") << " weights (epoch " << best_epoch;
    if (!val.empty()) out << ", validation accuracy " << std::setprecision(1) << 100.0 * best_accuracy << "%";
    out << ") are in " << o.out << "\n";
    return 0;
}

}  // namespace vitc::train
