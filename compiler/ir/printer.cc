#include "compiler/ir/printer.h"

#include <unordered_map>

namespace spk::compiler::ir {
namespace {

constexpr size_t kValuesPerLine = 8;

bool IsBareSymbolChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == '$';
}

class Printer {
 public:
  Printer(const Module& module, const PrintOptions& options) : module_(module), options_(options) {
    size_t next = 0;
    for (const auto& op : module.ops()) {
      for (size_t i = 0; i < op->num_results(); ++i) numbers_[op->result(i)] = next++;
    }
  }

  std::string PrintModule() {
    out_ += "module";
    if (!module_.name().empty()) {
      out_ += ' ';
      out_ += SymbolText(module_.name());
    }
    if (!module_.attrs().empty()) {
      out_ += " attributes ";
      PrintAttrDict(module_.attrs());
    }
    out_ += " {\n";
    for (const auto& c : module_.constants()) PrintConstant(*c);
    if (!module_.constants().empty() && module_.num_ops() != 0) out_ += '\n';
    for (const auto& op : module_.ops()) {
      out_ += "  ";
      PrintOp(*op);
      out_ += '\n';
    }
    out_ += "}\n";
    return std::move(out_);
  }

  std::string PrintOneOp(const Operation& op) {
    PrintOp(op);
    return std::move(out_);
  }

 private:
  void PrintValue(const Value* v) {
    auto it = numbers_.find(v);
    if (it == numbers_.end()) {
      out_ += "%<not in module>";
      return;
    }
    out_ += '%';
    AppendInt(out_, static_cast<int64_t>(it->second));
  }

  void PrintTypeList(const std::vector<const Type*>& types) {
    if (types.size() == 1) {
      out_ += types[0]->ToString();
      return;
    }
    out_ += '(';
    for (size_t i = 0; i < types.size(); ++i) {
      if (i) out_ += ", ";
      out_ += types[i]->ToString();
    }
    out_ += ')';
  }

  void PrintOp(const Operation& op) {
    for (size_t i = 0; i < op.num_results(); ++i) {
      if (i) out_ += ", ";
      PrintValue(op.result(i));
    }
    if (op.num_results() != 0) out_ += " = ";
    out_ += op.name();
    out_ += '(';
    for (size_t i = 0; i < op.num_operands(); ++i) {
      if (i) out_ += ", ";
      PrintValue(op.operand(i));
    }
    out_ += ')';
    if (!op.attrs().empty()) {
      out_ += ' ';
      PrintAttrDict(op.attrs());
    }
    out_ += " : ";
    std::vector<const Type*> types;
    for (Value* v : op.operands()) types.push_back(&v->type());
    PrintTypeList(types);
    out_ += " -> ";
    types.clear();
    for (size_t i = 0; i < op.num_results(); ++i) types.push_back(&op.result(i)->type());
    PrintTypeList(types);
    if (options_.print_locations && !op.loc().empty()) PrintLocation(op.loc());
  }

  void PrintLocation(const Location& loc) {
    out_ += " loc(";
    bool space = false;
    if (loc.has_file_position()) {
      out_ += QuoteString(loc.file);
      out_ += ':';
      AppendInt(out_, loc.line);
      out_ += ':';
      AppendInt(out_, loc.col);
      space = true;
    }
    if (!loc.module_path.empty()) {
      if (space) out_ += ' ';
      out_ += QuoteString(loc.module_path);
      space = true;
    }
    if (!loc.op_name.empty()) {
      if (space) out_ += ' ';
      out_ += "op ";
      out_ += QuoteString(loc.op_name);
    }
    out_ += ')';
  }

  void PrintAttrDict(const AttrDict& attrs) {
    out_ += '{';
    bool first = true;
    for (const auto& [name, attr] : attrs) {
      if (!first) out_ += ", ";
      first = false;
      out_ += name;
      out_ += " = ";
      PrintAttr(attr);
    }
    out_ += '}';
  }

  void PrintAttr(const Attribute& attr) {
    switch (attr.kind()) {
      case AttrKind::kInt:
        AppendInt(out_, attr.AsInt());
        break;
      case AttrKind::kFloat:
        AppendDouble(out_, attr.AsFloat());
        break;
      case AttrKind::kString:
        out_ += QuoteString(attr.AsString());
        break;
      case AttrKind::kBool:
        out_ += attr.AsBool() ? "true" : "false";
        break;
      case AttrKind::kIntList: {
        out_ += '[';
        const auto& v = attr.AsIntList();
        for (size_t i = 0; i < v.size(); ++i) {
          if (i) out_ += ", ";
          AppendInt(out_, v[i]);
        }
        out_ += ']';
        break;
      }
      case AttrKind::kFloatList: {
        out_ += '[';
        const auto& v = attr.AsFloatList();
        for (size_t i = 0; i < v.size(); ++i) {
          if (i) out_ += ", ";
          AppendDouble(out_, v[i]);
        }
        out_ += ']';
        break;
      }
      case AttrKind::kConstRef:
        out_ += SymbolText(attr.AsRef());
        break;
    }
  }

  void PrintConstant(const Constant& c) {
    out_ += "  constant ";
    out_ += SymbolText(c.name());
    out_ += " : ";
    out_ += c.type().ToString();
    out_ += " = ";
    const TensorData& data = c.data();
    size_t n = data.size();
    if (options_.elide_constants_over >= 0 &&
        n > static_cast<size_t>(options_.elide_constants_over)) {
      out_ += "<elided ";
      AppendInt(out_, static_cast<int64_t>(n));
      out_ += " values>\n";
      return;
    }
    bool wrap = n > kValuesPerLine;
    out_.reserve(out_.size() + n * 12);
    out_ += '[';
    for (size_t i = 0; i < n; ++i) {
      if (i % kValuesPerLine == 0 && wrap) out_ += "\n      ";
      switch (data.element()) {
        case ElementType::kF32:
          AppendFloat(out_, data.f32()[i]);
          break;
        case ElementType::kI8:
          AppendInt(out_, data.i8()[i]);
          break;
        case ElementType::kI16:
          AppendInt(out_, data.i16()[i]);
          break;
        default:
          AppendInt(out_, data.i32()[i]);
          break;
      }
      if (i + 1 < n) out_ += (wrap && (i + 1) % kValuesPerLine == 0) ? "," : ", ";
    }
    out_ += wrap ? "\n  ]\n" : "]\n";
  }

  const Module& module_;
  const PrintOptions& options_;
  std::unordered_map<const Value*, size_t> numbers_;
  std::string out_;
};

}  // namespace

std::string QuoteString(std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  for (char ch : text) {
    auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += ch;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7f) {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += ch;  // UTF-8 passes through
    }
  }
  return out + "\"";
}

std::string SymbolText(std::string_view name) {
  bool bare = !name.empty();
  for (char c : name) bare = bare && IsBareSymbolChar(c);
  return bare ? "@" + std::string(name) : "@" + QuoteString(name);
}

std::string PrintModule(const Module& module, const PrintOptions& options) {
  return Printer(module, options).PrintModule();
}

std::string PrintOp(const Operation& op) {
  PrintOptions options;
  return Printer(*op.module(), options).PrintOneOp(op);
}

}  // namespace spk::compiler::ir
