#include "io/pickle.hpp"

#include <cstring>
#include <limits>
#include <set>
#include <unordered_map>

#include "errors.hpp"

namespace vitc {

namespace {

using Kind = PickleValue::Kind;

constexpr size_t kMaxStack = 1 << 20;
constexpr size_t kMaxMarks = 1 << 16;
constexpr size_t kMaxMemo = 1 << 20;
constexpr size_t kMaxValues = 1 << 21;
constexpr size_t kMaxItems = 1 << 23;       // container slots, all containers together
constexpr uint64_t kMaxString = 1 << 20;    // state_dict keys are short
constexpr size_t kMaxDims = 16;
constexpr int64_t kMaxElements = int64_t{1} << 48;

struct StorageType {
    const char* name;
    DType dtype;
};
constexpr StorageType kStorageTypes[] = {
    {"torch.FloatStorage", DType::F32}, {"torch.DoubleStorage", DType::F64}, {"torch.HalfStorage", DType::F16},
    {"torch.BFloat16Storage", DType::BF16}, {"torch.LongStorage", DType::I64}, {"torch.IntStorage", DType::I32},
    {"torch.ShortStorage", DType::I16}, {"torch.CharStorage", DType::I8}, {"torch.ByteStorage", DType::U8},
    {"torch.BoolStorage", DType::BOOL},
};
constexpr const char* kOrderedDict = "collections.OrderedDict";
constexpr const char* kRebuildTensor = "torch._utils._rebuild_tensor_v2";
constexpr const char* kRebuildParameter = "torch._utils._rebuild_parameter";

bool storage_type(const std::string& name, DType* dtype) {
    for (const StorageType& t : kStorageTypes)
        if (name == t.name) {
            *dtype = t.dtype;
            return true;
        }
    return false;
}

bool allowed_global(const std::string& name) {
    DType unused;
    return name == kOrderedDict || name == kRebuildTensor || name == kRebuildParameter || storage_type(name, &unused);
}

// a * b and a + b for non-negative values, or -1 past kMaxElements.
int64_t bounded_mul(int64_t a, int64_t b) {
    if (a == 0 || b == 0) return 0;
    return a > kMaxElements / b ? -1 : a * b;
}
int64_t bounded_add(int64_t a, int64_t b) { return (a < 0 || b < 0 || a > kMaxElements - b) ? -1 : a + b; }

class Unpickler {
public:
    Unpickler(std::string_view bytes, const std::string& file) : in_(bytes), file_(file) {}

    Pickle run() {
        for (;;) {
            if (pos_ >= in_.size()) fail("ends without a STOP opcode (truncated)");
            op_at_ = pos_;
            const auto op = static_cast<uint8_t>(in_[pos_++]);
            if (op == '.') break;  // STOP
            step(op);
        }
        if (!marks_.empty()) fail("ends with an unclosed MARK");
        out_.root = pop();
        return std::move(out_);
    }

private:
    [[noreturn]] void fail(const std::string& why) const {
        throw ModelError(file_, "data.pkl: " + why + " (at byte " + std::to_string(op_at_) + ")");
    }

    // ---- input
    const char* take(uint64_t n) {
        if (n > in_.size() - pos_) fail("truncated: " + std::to_string(n) + " bytes wanted, " +
                                        std::to_string(in_.size() - pos_) + " left");
        const char* p = in_.data() + pos_;
        pos_ += n;
        return p;
    }
    uint64_t unsigned_le(int width) {
        const auto* p = reinterpret_cast<const uint8_t*>(take(static_cast<uint64_t>(width)));
        uint64_t v = 0;
        for (int i = width - 1; i >= 0; --i) v = (v << 8) | p[i];
        return v;
    }
    std::string line() {  // GLOBAL's module and name, each ended by '\n'
        const size_t end = in_.find('\n', pos_);
        if (end == std::string_view::npos || end - pos_ > 256) fail("malformed GLOBAL");
        std::string s(in_.substr(pos_, end - pos_));
        pos_ = end + 1;
        return s;
    }

    // ---- values and the stack
    size_t make(PickleValue v) {
        if (out_.values.size() >= kMaxValues) fail("more than " + std::to_string(kMaxValues) + " values");
        items_ += v.items.size();
        if (items_ > kMaxItems) fail("containers hold more than " + std::to_string(kMaxItems) + " items");
        out_.values.push_back(std::move(v));
        return out_.values.size() - 1;
    }
    size_t make(Kind kind) {
        PickleValue v;
        v.kind = kind;
        return make(std::move(v));
    }
    void push(size_t v) {
        if (stack_.size() >= kMaxStack) fail("stack deeper than " + std::to_string(kMaxStack));
        stack_.push_back(v);
    }
    size_t pop() {
        if (stack_.size() <= (marks_.empty() ? 0 : marks_.back())) fail("pops an empty stack");
        const size_t v = stack_.back();
        stack_.pop_back();
        return v;
    }
    size_t top() {
        if (stack_.size() <= (marks_.empty() ? 0 : marks_.back())) fail("reads an empty stack");
        return stack_.back();
    }
    // The items above the last MARK, which is removed.
    std::vector<size_t> pop_mark() {
        if (marks_.empty()) fail("needs a MARK");
        const size_t mark = marks_.back();
        marks_.pop_back();
        std::vector<size_t> items(stack_.begin() + static_cast<std::ptrdiff_t>(mark), stack_.end());
        stack_.resize(mark);
        return items;
    }
    PickleValue& value(size_t i) { return out_.values[i]; }

    void push_tuple(std::vector<size_t> items) {
        PickleValue t;
        t.kind = Kind::Tuple;
        t.items = std::move(items);
        push(make(std::move(t)));
    }
    void push_int(int64_t x) {
        PickleValue v;
        v.kind = Kind::Int;
        v.integer = x;
        push(make(std::move(v)));
    }
    void push_string(uint64_t length) {
        if (length > kMaxString) fail("a string of " + std::to_string(length) + " bytes");
        PickleValue v;
        v.kind = Kind::String;
        v.text.assign(take(length), length);
        push(make(std::move(v)));
    }
    void append(size_t list, const std::vector<size_t>& items) {
        if (value(list).kind != Kind::List) fail("APPEND to something that is not a list");
        items_ += items.size();
        if (items_ > kMaxItems) fail("containers hold more than " + std::to_string(kMaxItems) + " items");
        auto& target = value(list).items;
        target.insert(target.end(), items.begin(), items.end());
    }
    void set_items(size_t dict, const std::vector<size_t>& pairs) {
        if (value(dict).kind != Kind::Dict) fail("SETITEM on something that is not a dict");
        if (pairs.size() % 2) fail("SETITEMS with an odd number of items");
        for (size_t i = 0; i < pairs.size(); i += 2) {
            const Kind k = value(pairs[i]).kind;
            if (k != Kind::String && k != Kind::Int) fail("a dict key that is not a string or an integer");
        }
        items_ += pairs.size();
        if (items_ > kMaxItems) fail("containers hold more than " + std::to_string(kMaxItems) + " items");
        auto& target = value(dict).items;
        target.insert(target.end(), pairs.begin(), pairs.end());
    }
    void memo_put(uint64_t index) {
        if (memo_.size() >= kMaxMemo && !memo_.count(index)) fail("memo larger than " + std::to_string(kMaxMemo));
        memo_[index] = top();
    }
    void memo_get(uint64_t index) {
        const auto it = memo_.find(index);
        if (it == memo_.end()) fail("memo index " + std::to_string(index) + " was never stored");
        push(it->second);
    }
    void global(const std::string& module, const std::string& name) {
        const std::string full = module + "." + name;
        if (!allowed_global(full))
            fail("refused GLOBAL '" + full + "': a state_dict holds only tensors, dicts, strings and numbers, "
                 "and vitc calls nothing a checkpoint names");
        PickleValue v;
        v.kind = Kind::Global;
        v.text = full;
        push(make(std::move(v)));
    }

    // ---- the three things a checkpoint may build
    void persistent_id(size_t pid) {
        const PickleValue& t = value(pid);
        DType dtype;
        if (t.kind != Kind::Tuple || t.items.size() != 5 || value(t.items[0]).kind != Kind::String ||
            value(t.items[0]).text != "storage" || value(t.items[1]).kind != Kind::Global ||
            !storage_type(value(t.items[1]).text, &dtype) || value(t.items[2]).kind != Kind::String ||
            value(t.items[3]).kind != Kind::String || value(t.items[4]).kind != Kind::Int)
            fail("a persistent id that is not ('storage', torch.<Type>Storage, key, location, size)");
        const std::string& key = value(t.items[2]).text;
        const int64_t numel = value(t.items[4]).integer;
        if (key.empty() || key.size() > 64 || key.find('/') != std::string::npos || key.find('\0') != std::string::npos)
            fail("storage key '" + key.substr(0, 64) + "' is not a plain name");
        if (numel < 0 || numel > kMaxElements) fail("storage '" + key + "' has " + std::to_string(numel) + " elements");
        const auto [it, added] = storage_index_.emplace(key, out_.storages.size());
        const size_t index = it->second;
        if (added) {
            out_.storages.push_back({key, dtype, numel});
        } else if (out_.storages[index].dtype != dtype || out_.storages[index].numel != numel) {
            fail("storage '" + key + "' is named twice with different types or sizes");
        }
        PickleValue v;
        v.kind = Kind::Storage;
        v.integer = static_cast<int64_t>(index);
        push(make(std::move(v)));
    }

    std::vector<int64_t> int_tuple(size_t i, const char* what) {
        const PickleValue& t = value(i);
        if (t.kind != Kind::Tuple || t.items.size() > kMaxDims)
            fail(std::string("tensor ") + what + " is not a tuple of at most " + std::to_string(kMaxDims) + " integers");
        std::vector<int64_t> out;
        for (size_t item : t.items) {
            if (value(item).kind != Kind::Int || value(item).integer < 0 || value(item).integer > kMaxElements)
                fail(std::string("tensor ") + what + " holds a negative, huge or non-integer value");
            out.push_back(value(item).integer);
        }
        return out;
    }

    size_t rebuild_tensor(const std::vector<size_t>& args) {
        if (args.size() != 6 && args.size() != 7) fail("_rebuild_tensor_v2 takes 6 or 7 arguments");
        if (value(args[0]).kind != Kind::Storage) fail("_rebuild_tensor_v2 of something that is not a storage");
        if (value(args[1]).kind != Kind::Int || value(args[1]).integer < 0)
            fail("_rebuild_tensor_v2 with a negative or non-integer storage offset");
        if (value(args[4]).kind != Kind::Bool) fail("_rebuild_tensor_v2's requires_grad is not a bool");
        if (value(args[5]).kind != Kind::Dict || !value(args[5]).items.empty())
            fail("_rebuild_tensor_v2 with backward hooks (a state_dict has none)");
        if (args.size() == 7 && value(args[6]).kind != Kind::Dict && value(args[6]).kind != Kind::None)
            fail("_rebuild_tensor_v2's metadata is not a dict");
        PickleTensor t;
        t.storage = static_cast<size_t>(value(args[0]).integer);
        t.offset = value(args[1]).integer;
        t.shape = int_tuple(args[2], "size");
        t.stride = int_tuple(args[3], "stride");
        if (t.shape.size() != t.stride.size()) fail("tensor size and stride differ in length");
        // The last element the view touches must lie inside the storage.
        const PickleStorage& s = out_.storages[t.storage];
        int64_t numel = 1, last = t.offset;
        for (size_t d = 0; d < t.shape.size(); ++d) {
            numel = bounded_mul(numel, t.shape[d]);
            if (t.shape[d] > 0) last = bounded_add(last, bounded_mul(t.shape[d] - 1, t.stride[d]));
            if (numel < 0 || last < 0) fail("tensor extent overflows");
        }
        if (numel > 0 && last >= s.numel)
            fail("a tensor view reaches element " + std::to_string(last) + " of storage '" + s.key + "', which has " +
                 std::to_string(s.numel));
        out_.tensors.push_back(std::move(t));
        PickleValue v;
        v.kind = Kind::Tensor;
        v.integer = static_cast<int64_t>(out_.tensors.size() - 1);
        return make(std::move(v));
    }

    void reduce() {
        const size_t args = pop(), callable = pop();
        if (value(args).kind != Kind::Tuple) fail("REDUCE with arguments that are not a tuple");
        if (value(callable).kind != Kind::Global) fail("REDUCE of something that is not a callable");
        const std::string& name = value(callable).text;
        const std::vector<size_t> a = value(args).items;
        if (name == kOrderedDict) {
            if (!a.empty()) fail("OrderedDict with arguments");
            push(make(Kind::Dict));
        } else if (name == kRebuildTensor) {
            push(rebuild_tensor(a));
        } else if (name == kRebuildParameter) {
            if (a.size() != 3 || value(a[0]).kind != Kind::Tensor || value(a[1]).kind != Kind::Bool ||
                value(a[2]).kind != Kind::Dict)
                fail("_rebuild_parameter takes (tensor, requires_grad, hooks)");
            push(a[0]);
        } else {
            fail("refused REDUCE of '" + name + "' (only OrderedDict and the tensor rebuild functions are called)");
        }
    }

    void step(uint8_t op) {
        switch (op) {
            case 0x80:  // PROTO
                if (static_cast<uint8_t>(*take(1)) > 5) fail("unknown pickle protocol");
                return;
            case 0x95: take(8); return;  // FRAME: a length hint
            case '(':
                if (marks_.size() >= kMaxMarks) fail("more than " + std::to_string(kMaxMarks) + " open MARKs");
                marks_.push_back(stack_.size());
                return;
            case '0': pop(); return;        // POP
            case '1': pop_mark(); return;   // POP_MARK
            case 'N': push(make(Kind::None)); return;
            case 0x88:
            case 0x89: {  // NEWTRUE, NEWFALSE
                PickleValue v;
                v.kind = Kind::Bool;
                v.integer = op == 0x88;
                push(make(std::move(v)));
                return;
            }
            case 'K': push_int(static_cast<int64_t>(unsigned_le(1))); return;  // BININT1
            case 'M': push_int(static_cast<int64_t>(unsigned_le(2))); return;  // BININT2
            case 'J': push_int(static_cast<int32_t>(static_cast<uint32_t>(unsigned_le(4)))); return;  // BININT
            case 0x8a: {  // LONG1: n-byte two's complement
                const auto n = static_cast<int>(unsigned_le(1));
                if (n > 8) fail("an integer wider than 64 bits");
                uint64_t v = n ? unsigned_le(n) : 0;
                if (n > 0 && n < 8 && (v >> (8 * n - 1)) & 1) v |= ~uint64_t{0} << (8 * n);  // sign-extend
                push_int(static_cast<int64_t>(v));
                return;
            }
            case 'G': {  // BINFLOAT: big-endian double
                const auto* p = reinterpret_cast<const uint8_t*>(take(8));
                uint64_t bits = 0;
                for (int i = 0; i < 8; ++i) bits = (bits << 8) | p[i];
                PickleValue v;
                v.kind = Kind::Float;
                std::memcpy(&v.number, &bits, sizeof bits);
                push(make(std::move(v)));
                return;
            }
            case 'X': push_string(unsigned_le(4)); return;   // BINUNICODE
            case 0x8c: push_string(unsigned_le(1)); return;  // SHORT_BINUNICODE
            case 0x8d: push_string(unsigned_le(8)); return;  // BINUNICODE8
            case ')': push_tuple({}); return;
            case 't': push_tuple(pop_mark()); return;
            case 0x85:
            case 0x86:
            case 0x87: {  // TUPLE1..3
                std::vector<size_t> items(op - 0x84);
                for (size_t i = items.size(); i-- > 0;) items[i] = pop();
                push_tuple(std::move(items));
                return;
            }
            case ']': push(make(Kind::List)); return;
            case '}': push(make(Kind::Dict)); return;
            case 'l': {  // LIST
                const std::vector<size_t> items = pop_mark();
                push(make(Kind::List));
                append(top(), items);
                return;
            }
            case 'd': {  // DICT
                const std::vector<size_t> items = pop_mark();
                push(make(Kind::Dict));
                set_items(top(), items);
                return;
            }
            case 'a': {  // APPEND
                const size_t item = pop();
                append(top(), {item});
                return;
            }
            case 'e': {  // APPENDS
                const std::vector<size_t> items = pop_mark();
                append(top(), items);
                return;
            }
            case 's': {  // SETITEM
                const size_t v = pop(), k = pop();
                set_items(top(), {k, v});
                return;
            }
            case 'u': {  // SETITEMS
                const std::vector<size_t> items = pop_mark();
                set_items(top(), items);
                return;
            }
            case 'q': memo_put(unsigned_le(1)); return;   // BINPUT
            case 'r': memo_put(unsigned_le(4)); return;   // LONG_BINPUT
            case 0x94: memo_put(memo_.size()); return;    // MEMOIZE
            case 'h': memo_get(unsigned_le(1)); return;   // BINGET
            case 'j': memo_get(unsigned_le(4)); return;   // LONG_BINGET
            case 'c': {                                   // GLOBAL
                const std::string module = line();
                global(module, line());
                return;
            }
            case 0x93: {  // STACK_GLOBAL
                const size_t name = pop(), module = pop();
                if (value(module).kind != Kind::String || value(name).kind != Kind::String)
                    fail("STACK_GLOBAL of something that is not a string");
                global(value(module).text, value(name).text);
                return;
            }
            case 'Q': persistent_id(pop()); return;  // BINPERSID
            case 'R': reduce(); return;
            case 'b': {  // BUILD: only an OrderedDict's attributes (a state_dict's _metadata), ignored
                const size_t state = pop();
                const Kind target = value(top()).kind, k = value(state).kind;
                if (target != Kind::Dict || (k != Kind::Dict && k != Kind::None))
                    fail("refused BUILD (sets the state of an object; only a dict's metadata is accepted)");
                return;
            }
            default: {
                char hex[8];
                std::snprintf(hex, sizeof hex, "0x%02x", op);
                fail(std::string("refused opcode ") + hex + " (not one a state_dict needs)");
            }
        }
    }

    std::string_view in_;
    const std::string& file_;
    size_t pos_ = 0, op_at_ = 0, items_ = 0;
    std::vector<size_t> stack_, marks_;
    std::unordered_map<uint64_t, size_t> memo_;
    std::unordered_map<std::string, size_t> storage_index_;
    Pickle out_;
};

bool all_tensors(const Pickle& p, const PickleValue& dict) {
    for (size_t i = 1; i < dict.items.size(); i += 2)
        if (p.at(dict.items[i]).kind != Kind::Tensor) return false;
    return !dict.items.empty();
}

}  // namespace

int64_t PickleTensor::numel() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;  // bounded by kMaxElements when parsed
    return n;
}

Pickle unpickle(std::string_view bytes, const std::string& file) { return Unpickler(bytes, file).run(); }

std::vector<std::pair<std::string, PickleTensor>> state_dict_tensors(const Pickle& p, const std::string& file) {
    const PickleValue& root = p.at(p.root);
    if (root.kind != Kind::Dict) throw ModelError(file, "the checkpoint does not hold a dict (a state_dict)");
    const PickleValue* dict = &root;
    if (!all_tensors(p, root)) {
        dict = nullptr;
        for (const char* key : {"state_dict", "model_state_dict", "model"})
            for (size_t i = 0; i + 1 < root.items.size() && !dict; i += 2) {
                const PickleValue& k = p.at(root.items[i]);
                const PickleValue& v = p.at(root.items[i + 1]);
                if (k.kind == Kind::String && k.text == key && v.kind == Kind::Dict && all_tensors(p, v)) dict = &v;
            }
    }
    if (!dict) {
        std::string keys;
        for (size_t i = 0; i < root.items.size() && keys.size() < 200; i += 2) {
            const PickleValue& k = p.at(root.items[i]);
            if (k.kind == Kind::String && !(i + 1 < root.items.size() && p.at(root.items[i + 1]).kind == Kind::Tensor))
                keys += (keys.empty() ? "'" : ", '") + k.text.substr(0, 40) + "'";
        }
        throw ModelError(file, "no state_dict found: the checkpoint's dict holds non-tensor entries (" +
                                   (keys.empty() ? std::string("none named") : keys) +
                                   ") and no 'state_dict', 'model_state_dict' or 'model' dict of tensors");
    }
    std::vector<std::pair<std::string, PickleTensor>> out;
    std::set<std::string> names;
    bool all_prefixed = true;
    for (size_t i = 0; i + 1 < dict->items.size(); i += 2) {
        const PickleValue& k = p.at(dict->items[i]);
        if (k.kind != Kind::String) throw ModelError(file, "a state_dict key is not a string");
        if (!names.insert(k.text).second) throw ModelError(file, "tensor '" + k.text + "' appears twice");
        all_prefixed = all_prefixed && k.text.rfind("module.", 0) == 0;
        out.emplace_back(k.text, p.tensors[static_cast<size_t>(p.at(dict->items[i + 1]).integer)]);
    }
    if (all_prefixed)
        for (auto& [name, tensor] : out) name.erase(0, 7);
    return out;
}

}  // namespace vitc
