// vitc batch DIR : classify every image in a folder, with accuracy on labelled folders.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli_common.hpp"
#include "commands.hpp"
#include "errors.hpp"
#include "tasks/atomic_file.hpp"
#include "tasks/batch.hpp"
#include "tasks/resume.hpp"
#include "tasks/shard.hpp"
#include "runtime/threads.hpp"
#include "io/printable.hpp"

namespace vitc::cli {

namespace fs = std::filesystem;

namespace {

std::string clock_time(double seconds) {  // 75 -> "1:15", 3725 -> "1:02:05"
    const long t = static_cast<long>(seconds + 0.5);
    char text[32];
    if (t >= 3600) std::snprintf(text, sizeof text, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else std::snprintf(text, sizeof text, "%ld:%02ld", t / 60, t % 60);
    return text;
}

// A bar on a terminal, a line every 10% otherwise; both with the elapsed time and an estimate of
// the time left.
void show_progress(size_t done, size_t total, double seconds) {
    const double rate = seconds > 0 ? done / seconds : 0;
    const std::string eta = rate > 0 ? clock_time((total - done) / rate) : "?";
    if (isatty(STDERR_FILENO)) {
        const int width = 30, filled = total ? static_cast<int>(width * done / total) : width;
        std::cerr << "\r[" << std::string(filled, '#') << std::string(width - filled, '.') << "] " << done << "/" << total
                  << "  " << std::fixed << std::setprecision(0) << rate << " images/s, " << clock_time(seconds)
                  << " elapsed, " << eta << " left  " << std::flush;
        if (done == total) std::cerr << "\n";
        return;
    }
    static size_t next_report = 0;
    if (done >= next_report || done == total) {
        std::cerr << "progress: " << done << "/" << total << " images, " << std::fixed << std::setprecision(0) << rate
                  << " images/s, " << clock_time(seconds) << " elapsed, " << eta << " left\n";
        next_report = done + std::max<size_t>(1, total / 10);
    }
}

// --files-from: one path per line (a file, or standard output with "-"); empty lines skipped.
std::vector<ImageEntry> read_file_list(const std::string& list) {
    std::ifstream file;
    if (list != "-") {
        file.open(list);
        if (!file) throw Error(list + ": cannot read the file list");
    }
    std::istream& in = list == "-" ? std::cin : file;
    std::vector<ImageEntry> images;
    std::string line;
    while (std::getline(in, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (!line.empty()) images.push_back({line, line, -1});
    }
    return images;
}

volatile std::sig_atomic_t stop_requested = 0;

// The first Ctrl-C (or SIGTERM, SIGHUP) finishes the batch in hand within moments (an image being
// decoded is abandoned: its loader is a child process), keeps the rows and prints the summary. A
// second one ends the process at once; the rows flushed so far stay in "<out>.partial".
void request_stop(int) {
    if (stop_requested) {
        static const char message[] = "\nvitc batch: stopped at once; the rows written so far are kept for --resume\n";
        [[maybe_unused]] const ssize_t n = ::write(STDERR_FILENO, message, sizeof message - 1);
        ::_exit(128 + SIGINT);
    }
    stop_requested = 1;
    static const char message[] = "\nvitc batch: stopping after the images in hand (Ctrl-C again to stop at once)\n";
    [[maybe_unused]] const ssize_t n = ::write(STDERR_FILENO, message, sizeof message - 1);
}

void install_stop_handlers() {
    struct sigaction action {};
    action.sa_handler = request_stop;
    sigemptyset(&action.sa_mask);
    for (int signal : {SIGINT, SIGTERM, SIGHUP}) sigaction(signal, &action, nullptr);
}

std::string canonical(const std::string& path) {
    std::error_code ec;
    return fs::weakly_canonical(fs::absolute(path), ec).string();
}

}  // namespace

int batch_command(int argc, char** argv) {
    cxxopts::Options options("vitc batch",
                             "Classify every image in a folder. Subfolders named after the model's labels\n"
                             "  (e.g. 'Ankle boot/', 'T-shirt_top/' for 'T-shirt/top') make it a labelled\n"
                             "  folder: top-1/top-5 accuracy and a confusion matrix are reported.");
    options.positional_help("DIR");
    add_model_options(options);
    add_image_options(options);
    options.add_options()
        ("r,recursive", "descend into every subfolder")
        ("files-from", "classify the files listed in FILE, one per line ('-': standard input), instead of a folder",
         cxxopts::value<std::string>())
        ("o,out", "write rows to FILE: .csv or .jsonl; '-' for JSON Lines on standard output (default: CSV on\n"
                  "      standard output)", cxxopts::value<std::string>())
        ("q,quiet", "no progress display and no notes; errors and the --summary-json file only")
        ("b,batch-size", "images per forward pass", cxxopts::value<int>()->default_value("32"))
        ("k,top", "labels per row", cxxopts::value<int>()->default_value("1"))
        ("resume", "keep the rows already in --out and classify only the files missing there")
        ("summary-json", "also write the summary (accuracy, confusion matrix, timing) as JSON to FILE",
         cxxopts::value<std::string>())
        ("shard", "classify only shard K of N (K/N, K from 0; file i of the sorted list goes to shard i mod N), or auto:\n      K/N from SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT (see vitc merge)", cxxopts::value<std::string>())
        ("dir", "folder of images", cxxopts::value<std::string>());
    options.parse_positional({"dir"});
    const auto args = parse_or_help(options, argc, argv);
    const bool from_list = args.count("files-from") > 0, quiet = args.count("quiet") > 0;
    if (!args.count("dir") && !from_list)
        throw Error("no folder given (usage: vitc batch DIR [--out results.csv], or --files-from FILE)");
    if (args.count("dir") && from_list) throw Error("give a folder or --files-from, not both");
    const std::string dir = from_list ? "" : args["dir"].as<std::string>();
    const int top = args["top"].as<int>();
    if (top < 1) throw Error("--top must be at least 1");

    std::string out_path = args.count("out") ? args["out"].as<std::string>() : "";
    const bool rows_to_stdout_jsonl = out_path == "-";
    if (rows_to_stdout_jsonl) out_path.clear();
    for (const char* option : {"out", "summary-json"}) {
        if (!args.count(option) || (std::string(option) == "out" && rows_to_stdout_jsonl)) continue;
        if (!dir.empty() && is_inside(args[option].as<std::string>(), dir))
            throw Error(std::string("--") + option + " points into the input folder " + dir + "; vitc never writes there");
        check_output_path(args[option].as<std::string>(), std::string("--") + option);  // a folder, say: now, not after the work
    }
    if (!out_path.empty() && args.count("summary-json")) {
        const std::string summary = canonical(args["summary-json"].as<std::string>());
        if (summary == canonical(out_path) || summary == canonical(out_path + ".partial"))
            throw Error("--summary-json and --out name the same file; the summary would replace the rows");
    }
    RowWriter::Format format = rows_to_stdout_jsonl ? RowWriter::Format::JsonLines : RowWriter::Format::Csv;
    if (!out_path.empty()) {
        const std::string ext = fs::path(out_path).extension().string();
        if (ext == ".jsonl" || ext == ".json") format = RowWriter::Format::JsonLines;
        else if (ext != ".csv") throw Error("--out must end in .csv or .jsonl, not '" + out_path + "'");
    }

    const auto model = load_model_from(args);
    // --threads is the total: one thread decodes the next batch while the rest run the model.
    if (args.count("threads")) runtime::set_threads(std::max(1, args["threads"].as<int>() - 1));
    ImageFolder folder;
    if (from_list) folder.images = read_file_list(args["files-from"].as<std::string>());
    else folder = list_image_folder(dir, args.count("recursive") > 0, model->labels());
    if (folder.images.empty() && !from_list)
        std::cerr << "vitc batch: no images found in " << printable(dir) << (args.count("recursive") ? "" : " (try --recursive)") << "\n";

    for (const UnreadableFolder& f : folder.unreadable)
        std::cerr << "vitc batch: warning: cannot read the folder " << printable(f.relative) << ": " << f.reason
                  << "; its images are not classified\n";

    std::vector<ImageEntry> images = folder.images;
    if (args.count("shard")) images = select_shard(images, parse_shard(args["shard"].as<std::string>()));
    const bool resume = args.count("resume") > 0;
    if (resume && out_path.empty()) throw Error("--resume needs --out FILE");
    const int shown = std::min<int>(top, static_cast<int>(model->labels().size()));
    const OutputShape shape{format == RowWriter::Format::JsonLines, RowWriter::csv_header(shown), shown};

    // Rows go to "<out>.partial", flushed one by one, renamed to <out> at the end. --resume keeps
    // the rows of a run that was stopped (they are in <out>) or killed (in <out>.partial).
    ExistingOutput earlier;
    std::unique_ptr<AtomicFile> file;
    if (!out_path.empty()) {
        std::string partial_text;
        file = AtomicFile::resumable(out_path, resume, &partial_text);
        if (!partial_text.empty()) {  // a killed run's rows, up to its last complete one
            earlier = parse_existing_output(partial_text, file->temporary_path(), shape);
            file->truncate(earlier.complete_bytes);
            if (earlier.complete_bytes == 0 && !shape.json_lines) file->stream() << shape.csv_header;
        } else {
            if (resume) earlier = read_existing_output(out_path, shape);
            if (!shape.json_lines) file->stream() << shape.csv_header;
            file->stream() << earlier.rows;
        }
        file->check_written();
    }
    if (resume) {
        images.erase(std::remove_if(images.begin(), images.end(),
                                    [&](const ImageEntry& e) { return earlier.files.count(e.relative) != 0; }),
                     images.end());
        if (!quiet)
            std::cerr << "vitc batch: resuming: " << earlier.files.size() << " rows kept, " << images.size()
                      << " images to go\n";
    }

    install_stop_handlers();  // from here on, Ctrl-C keeps what is done
    // A reader that goes away (`vitc batch DIR | head -1`) must not kill the run with SIGPIPE: the
    // failed write ends it like Ctrl-C, with the rows in --out kept.
    std::signal(SIGPIPE, SIG_IGN);
    std::ostream& rows_out = file ? file->stream() : std::cout;
    RowWriter writer(rows_out, format, model->labels(), shown, /*write_header=*/!file);

    Classifier classifier(*model, decode_limits_from(args));
    const auto start = std::chrono::steady_clock::now();
    BatchReport report = run_batch(
        classifier, images, args["batch-size"].as<int>(),
        [&](const BatchRow& row) {
            writer.write(row);
            if (file) file->check_written();  // a full disk stops the run now, naming the reason
            else if (!std::cout) stop_requested = 1;  // standard output was closed
        },
        [&](size_t done, size_t total) {
            if (!quiet)
                show_progress(done, total, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
        },
        [] { return stop_requested != 0; });
    if (file) file->commit();

    // The summary covers the whole folder: the rows kept by --resume count too.
    for (const EarlierRow& row : earlier.parsed) {
        const auto& labels = model->labels();
        const auto truth = std::find(labels.begin(), labels.end(), row.true_label);
        report.add_earlier(row.ok, row.ranked, row.true_label.empty() || truth == labels.end() ? -1 : static_cast<int>(truth - labels.begin()),
                           labels.size());
        ++report.kept;
        if (!row.ok) ++report.kept_failed;
    }
    report.not_scored = folder.not_scored;
    if (!quiet && report.converted_images) std::cerr << "vitc batch: note: " << report.conversion_notice() << "\n";

    std::ostream& summary = file ? std::cout : std::cerr;  // keep stdout clean when it carries rows
    if (!quiet) {
        if (file) summary << "wrote " << printable(out_path) << "\n";
        for (const UnreadableFolder& f : folder.unreadable)
            summary << "not read: folder " << printable(f.relative) << " (" << f.reason << ")\n";
        report.print_text(summary, model->labels());
    }
    if (args.count("summary-json")) {
        AtomicFile json_file(args["summary-json"].as<std::string>());
        json_file.stream() << report.to_json(model->labels()).dump(2) << "\n";
        json_file.commit();
    }
    if (report.interrupted) return 128 + SIGINT;
    return report.failed || !folder.unreadable.empty() ? kExitInputFailed : 0;
}

}  // namespace vitc::cli
