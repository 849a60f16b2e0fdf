#include "compiler/ir/parser.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace spk::compiler::ir {
namespace {

enum class Tok {
  kEof,
  kError,
  kIdent,
  kValueId,
  kSymbol,
  kString,
  kInt,
  kFloat,
  kLParen,
  kRParen,
  kLBrace,
  kRBrace,
  kLBracket,
  kRBracket,
  kComma,
  kColon,
  kEqual,
  kArrow,
  kLess,
  kGreater,
};

struct Token {
  Tok kind = Tok::kEof;
  std::string_view text;
  int line = 1;
  int col = 1;
  std::string error;  // for kError
};

bool IsIdentStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsIdentChar(char c) { return IsIdentStart(c) || IsDigit(c) || c == '.'; }
bool IsNameChar(char c) { return IsIdentChar(c) || c == '$'; }

std::string Printable(char c) {
  auto u = static_cast<unsigned char>(c);
  if (u >= 0x20 && u < 0x7f) return std::string("'") + c + "'";
  static constexpr char kHex[] = "0123456789abcdef";
  return std::string("byte 0x") + kHex[u >> 4] + kHex[u & 15];
}

class Lexer {
 public:
  explicit Lexer(std::string_view text) : text_(text) {}

  Token Next() {
    SkipSpaceAndComments();
    Token tok;
    tok.line = line_;
    tok.col = static_cast<int>(pos_ - line_start_) + 1;
    if (pos_ >= text_.size()) return tok;
    size_t start = pos_;
    char c = text_[pos_];
    auto finish = [&](Tok kind) {
      tok.kind = kind;
      tok.text = text_.substr(start, pos_ - start);
      return tok;
    };
    auto fail = [&](std::string message) {
      tok.kind = Tok::kError;
      tok.error = std::move(message);
      return tok;
    };
    switch (c) {
      case '(':
        ++pos_;
        return finish(Tok::kLParen);
      case ')':
        ++pos_;
        return finish(Tok::kRParen);
      case '{':
        ++pos_;
        return finish(Tok::kLBrace);
      case '}':
        ++pos_;
        return finish(Tok::kRBrace);
      case '[':
        ++pos_;
        return finish(Tok::kLBracket);
      case ']':
        ++pos_;
        return finish(Tok::kRBracket);
      case ',':
        ++pos_;
        return finish(Tok::kComma);
      case ':':
        ++pos_;
        return finish(Tok::kColon);
      case '=':
        ++pos_;
        return finish(Tok::kEqual);
      case '<':
        ++pos_;
        return finish(Tok::kLess);
      case '>':
        ++pos_;
        return finish(Tok::kGreater);
      case '"': {
        std::string error;
        if (!SkipString(&error)) return fail(error);
        return finish(Tok::kString);
      }
      case '%':
      case '@': {
        ++pos_;
        if (c == '@' && pos_ < text_.size() && text_[pos_] == '"') {
          std::string error;
          if (!SkipString(&error)) return fail(error);
          return finish(Tok::kSymbol);
        }
        size_t name_start = pos_;
        while (pos_ < text_.size() && IsNameChar(text_[pos_])) ++pos_;
        if (pos_ == name_start) {
          return fail(std::string("expected a name after '") + c + "'");
        }
        return finish(c == '%' ? Tok::kValueId : Tok::kSymbol);
      }
      default:
        break;
    }
    if (c == '-' && pos_ + 1 < text_.size() && text_[pos_ + 1] == '>') {
      pos_ += 2;
      return finish(Tok::kArrow);
    }
    if (c == '-' || IsDigit(c)) return LexNumber(tok, start);
    if (IsIdentStart(c)) {
      while (pos_ < text_.size() && IsIdentChar(text_[pos_])) ++pos_;
      return finish(Tok::kIdent);
    }
    return fail("unexpected character " + Printable(c));
  }

 private:
  void SkipSpaceAndComments() {
    while (pos_ < text_.size()) {
      char c = text_[pos_];
      if (c == '\n') {
        ++pos_;
        ++line_;
        line_start_ = pos_;
      } else if (c == ' ' || c == '\t' || c == '\r') {
        ++pos_;
      } else if (c == '/' && pos_ + 1 < text_.size() && text_[pos_ + 1] == '/') {
        while (pos_ < text_.size() && text_[pos_] != '\n') ++pos_;
      } else {
        return;
      }
    }
  }

  // Leaves pos_ after the closing quote; validates escapes.
  bool SkipString(std::string* error) {
    ++pos_;  // opening quote
    while (pos_ < text_.size()) {
      char c = text_[pos_];
      if (c == '"') {
        ++pos_;
        return true;
      }
      if (c == '\n') break;
      if (c == '\\') {
        if (pos_ + 1 >= text_.size()) break;
        char e = text_[pos_ + 1];
        if (e == 'x') {
          if (pos_ + 3 >= text_.size() ||
              !std::isxdigit(static_cast<unsigned char>(text_[pos_ + 2])) ||
              !std::isxdigit(static_cast<unsigned char>(text_[pos_ + 3]))) {
            *error = "bad \\x escape in string (expected two hex digits)";
            return false;
          }
          pos_ += 4;
          continue;
        }
        if (e != '"' && e != '\\' && e != 'n' && e != 't') {
          *error = "unknown escape \\" + std::string(1, e) + " in string";
          return false;
        }
        pos_ += 2;
        continue;
      }
      ++pos_;
    }
    *error = "unterminated string";
    return false;
  }

  Token LexNumber(Token tok, size_t start) {
    bool is_float = false;
    if (text_[pos_] == '-') ++pos_;
    if (text_.substr(pos_, 3) == "inf" || text_.substr(pos_, 3) == "nan") {
      pos_ += 3;
      is_float = true;
    } else {
      size_t digits = pos_;
      while (pos_ < text_.size() && IsDigit(text_[pos_])) ++pos_;
      if (pos_ == digits) {
        tok.kind = Tok::kError;
        tok.error = "expected a number after '-'";
        return tok;
      }
      if (pos_ < text_.size() && text_[pos_] == '.') {
        is_float = true;
        ++pos_;
        while (pos_ < text_.size() && IsDigit(text_[pos_])) ++pos_;
      }
      if (pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
        size_t save = pos_;
        ++pos_;
        if (pos_ < text_.size() && (text_[pos_] == '+' || text_[pos_] == '-')) ++pos_;
        size_t exp_digits = pos_;
        while (pos_ < text_.size() && IsDigit(text_[pos_])) ++pos_;
        if (pos_ == exp_digits) {
          pos_ = save;  // not an exponent; let the parser complain about what follows
        } else {
          is_float = true;
        }
      }
    }
    tok.kind = is_float ? Tok::kFloat : Tok::kInt;
    tok.text = text_.substr(start, pos_ - start);
    return tok;
  }

  std::string_view text_;
  size_t pos_ = 0;
  int line_ = 1;
  size_t line_start_ = 0;
};

std::string Describe(const Token& tok) {
  switch (tok.kind) {
    case Tok::kEof:
      return "end of input";
    case Tok::kError:
      return "an invalid token";
    default: {
      std::string_view t = tok.text;
      if (t.size() > 40) return "'" + std::string(t.substr(0, 37)) + "...'";
      return "'" + std::string(t) + "'";
    }
  }
}

// Decodes a string token (quotes included; escapes already validated).
std::string DecodeString(std::string_view quoted) {
  std::string out;
  std::string_view body = quoted.substr(1, quoted.size() - 2);
  for (size_t i = 0; i < body.size(); ++i) {
    if (body[i] != '\\') {
      out += body[i];
      continue;
    }
    char e = body[++i];
    if (e == 'n') {
      out += '\n';
    } else if (e == 't') {
      out += '\t';
    } else if (e == 'x') {
      unsigned v = 0;
      std::from_chars(body.data() + i + 1, body.data() + i + 3, v, 16);
      out += static_cast<char>(v);
      i += 2;
    } else {
      out += e;
    }
  }
  return out;
}

struct NamedUse {
  std::string_view name;
  int line;
  int col;
};

struct OpRecord {
  const OpDef* def = nullptr;
  std::vector<NamedUse> results;
  std::vector<NamedUse> operands;
  AttrDict attrs;
  std::vector<Type> operand_types;
  std::vector<Type> result_types;
  Location loc;
  TextPosition pos;
  TextPosition signature_pos;
};

class Parser {
 public:
  Parser(std::string_view text, std::string_view source_name, DiagnosticEngine& diags,
         const OpRegistry& registry)
      : text_(text), lexer_(text), source_name_(source_name), diags_(diags), registry_(registry) {
    tok_ = lexer_.Next();
  }

  StatusOr<std::unique_ptr<Module>> Parse() {
    module_ = std::make_unique<Module>(registry_);
    module_->set_source_name(std::string(source_name_));
    if (Status s = ParseTop(); !s.ok()) return s;
    if (Status s = BuildOps(); !s.ok()) return s;
    return std::move(module_);
  }

 private:
  // --- Token plumbing ---
  void Advance() { tok_ = lexer_.Next(); }

  Status ErrorAt(int line, int col, std::string message) {
    Location loc;
    loc.file = std::string(source_name_);
    loc.line = line;
    loc.col = col;
    Diagnostic diag{Severity::kError, loc, std::move(message)};
    std::string rendered = FormatDiagnostic(diag);
    diags_.Emit(diag.severity, std::move(diag.loc), std::move(diag.message));
    return InvalidArgumentError(rendered);
  }
  Status Error(std::string message) {
    if (tok_.kind == Tok::kError) return ErrorAt(tok_.line, tok_.col, tok_.error);
    return ErrorAt(tok_.line, tok_.col, std::move(message));
  }
  Status Expected(std::string_view what) {
    return Error("expected " + std::string(what) + ", got " + Describe(tok_));
  }
  Status Expect(Tok kind, std::string_view what) {
    if (tok_.kind != kind) return Expected(what);
    Advance();
    return Status::Ok();
  }
  bool IsIdent(std::string_view word) const {
    return tok_.kind == Tok::kIdent && tok_.text == word;
  }
  bool Consume(Tok kind) {
    if (tok_.kind != kind) return false;
    Advance();
    return true;
  }

  std::string SymbolName(const Token& tok) {
    std::string_view t = tok.text.substr(1);
    return t.size() > 0 && t[0] == '"' ? DecodeString(t) : std::string(t);
  }

  StatusOr<int64_t> ParseIntToken() {
    if (tok_.kind != Tok::kInt) return Expected("an integer");
    int64_t v = 0;
    auto [end, ec] = std::from_chars(tok_.text.data(), tok_.text.data() + tok_.text.size(), v);
    if (ec != std::errc() || end != tok_.text.data() + tok_.text.size()) {
      return Error("integer " + Describe(tok_) + " is out of range");
    }
    Advance();
    return v;
  }

  // Accepts int and float tokens and the words inf/nan.
  StatusOr<double> ParseDoubleToken() {
    bool word = tok_.kind == Tok::kIdent && (tok_.text == "inf" || tok_.text == "nan");
    if (tok_.kind != Tok::kInt && tok_.kind != Tok::kFloat && !word) return Expected("a number");
    double v = 0;
    auto [end, ec] = std::from_chars(tok_.text.data(), tok_.text.data() + tok_.text.size(), v);
    if (ec != std::errc() || end != tok_.text.data() + tok_.text.size()) {
      return Error("number " + Describe(tok_) + " is out of range for a float");
    }
    Advance();
    return v;
  }

  // --- Grammar ---
  Status ParseTop() {
    if (!IsIdent("module")) return Expected("'module'");
    Advance();
    if (tok_.kind == Tok::kSymbol) {
      module_->set_name(SymbolName(tok_));
      Advance();
    }
    if (IsIdent("attributes")) {
      Advance();
      AttrDict attrs;
      SPK_RETURN_IF_ERROR(ParseAttrDict(&attrs));
      module_->mutable_attrs() = std::move(attrs);
    }
    SPK_RETURN_IF_ERROR(Expect(Tok::kLBrace, "'{' to open the module body"));
    while (tok_.kind != Tok::kRBrace) {
      if (tok_.kind == Tok::kEof) return Expected("'}' to close the module");
      if (IsIdent("constant")) {
        SPK_RETURN_IF_ERROR(ParseConstant());
      } else {
        SPK_RETURN_IF_ERROR(ParseOp());
      }
    }
    Advance();
    if (tok_.kind != Tok::kEof) return Expected("end of input after the module");
    return Status::Ok();
  }

  Status ParseType(Type* type) {
    if (tok_.kind != Tok::kIdent) return Expected("a type such as f32[T,1,128]");
    auto element = ElementTypeFromName(tok_.text);
    if (!element) {
      return Error("unknown element type " + Describe(tok_) +
                   " (expected spike, graded, f32, state, i8, i16 or i32)");
    }
    Advance();
    SPK_RETURN_IF_ERROR(Expect(Tok::kLBracket, "'[' after the element type"));
    bool timed = false;
    std::vector<int64_t> dims;
    if (IsIdent("T")) {
      timed = true;
      Advance();
      if (tok_.kind != Tok::kRBracket) {
        SPK_RETURN_IF_ERROR(Expect(Tok::kComma, "',' or ']' after T"));
      }
    }
    while (tok_.kind != Tok::kRBracket) {
      if (IsIdent("T")) return Error("T may only be the first dim");
      int line = tok_.line, col = tok_.col;
      SPK_ASSIGN_OR_RETURN(int64_t d, ParseIntToken());
      if (d < 0) return ErrorAt(line, col, "dims must be >= 0");
      dims.push_back(d);
      if (!CheckedNumElements(dims)) return ErrorAt(line, col, "shape has too many elements");
      if (tok_.kind != Tok::kRBracket) {
        SPK_RETURN_IF_ERROR(Expect(Tok::kComma, "',' or ']' in a shape"));
      }
    }
    Advance();
    *type = Type(*element, timed, std::move(dims));
    return Status::Ok();
  }

  Status ParseTypeList(std::vector<Type>* types) {
    if (tok_.kind != Tok::kLParen) {
      Type t;
      SPK_RETURN_IF_ERROR(ParseType(&t));
      types->push_back(std::move(t));
      return Status::Ok();
    }
    Advance();
    while (tok_.kind != Tok::kRParen) {
      Type t;
      SPK_RETURN_IF_ERROR(ParseType(&t));
      types->push_back(std::move(t));
      if (tok_.kind != Tok::kRParen) {
        SPK_RETURN_IF_ERROR(Expect(Tok::kComma, "',' or ')' in a type list"));
      }
    }
    Advance();
    return Status::Ok();
  }

  Status ParseAttrValue(Attribute* out) {
    switch (tok_.kind) {
      case Tok::kInt: {
        SPK_ASSIGN_OR_RETURN(int64_t v, ParseIntToken());
        *out = Attribute::Int(v);
        return Status::Ok();
      }
      case Tok::kFloat: {
        SPK_ASSIGN_OR_RETURN(double v, ParseDoubleToken());
        *out = Attribute::Float(v);
        return Status::Ok();
      }
      case Tok::kString:
        *out = Attribute::String(DecodeString(tok_.text));
        Advance();
        return Status::Ok();
      case Tok::kSymbol:
        *out = Attribute::Ref(SymbolName(tok_));
        Advance();
        return Status::Ok();
      case Tok::kIdent:
        if (tok_.text == "true" || tok_.text == "false") {
          *out = Attribute::Bool(tok_.text == "true");
          Advance();
          return Status::Ok();
        }
        if (tok_.text == "inf" || tok_.text == "nan") {
          SPK_ASSIGN_OR_RETURN(double v, ParseDoubleToken());
          *out = Attribute::Float(v);
          return Status::Ok();
        }
        break;
      case Tok::kLBracket:
        return ParseList(out);
      default:
        break;
    }
    return Expected("an attribute value (number, string, true/false, @constant or [list])");
  }

  Status ParseList(Attribute* out) {
    Advance();  // '['
    std::vector<int64_t> ints;
    std::vector<double> floats;
    bool is_float = false;
    while (tok_.kind != Tok::kRBracket) {
      if (tok_.kind == Tok::kInt && !is_float) {
        SPK_ASSIGN_OR_RETURN(int64_t v, ParseIntToken());
        ints.push_back(v);
      } else {
        if (!is_float) {
          is_float = true;
          floats.assign(ints.begin(), ints.end());
        }
        SPK_ASSIGN_OR_RETURN(double v, ParseDoubleToken());
        floats.push_back(v);
      }
      if (tok_.kind != Tok::kRBracket) {
        SPK_RETURN_IF_ERROR(Expect(Tok::kComma, "',' or ']' in a list"));
      }
    }
    Advance();
    *out = is_float ? Attribute::FloatList(std::move(floats)) : Attribute::IntList(std::move(ints));
    return Status::Ok();
  }

  Status ParseAttrDict(AttrDict* attrs) {
    SPK_RETURN_IF_ERROR(Expect(Tok::kLBrace, "'{'"));
    while (tok_.kind != Tok::kRBrace) {
      if (tok_.kind != Tok::kIdent) return Expected("an attribute name");
      std::string_view name = tok_.text;
      int line = tok_.line, col = tok_.col;
      Advance();
      if (attrs->Has(name)) {
        return ErrorAt(line, col, "attribute '" + std::string(name) + "' is given twice");
      }
      SPK_RETURN_IF_ERROR(Expect(Tok::kEqual, "'=' after the attribute name"));
      Attribute value = Attribute::Int(0);
      SPK_RETURN_IF_ERROR(ParseAttrValue(&value));
      attrs->Set(name, std::move(value));
      if (tok_.kind != Tok::kRBrace) {
        SPK_RETURN_IF_ERROR(Expect(Tok::kComma, "',' or '}' in attributes"));
      }
    }
    Advance();
    return Status::Ok();
  }

  // Integer literals where the op wants floats (`tau = 2`).
  static void CoerceAttrs(const OpDef& def, AttrDict* attrs) {
    AttrDict out = *attrs;
    for (const auto& [name, attr] : *attrs) {
      const AttrSpec* spec = def.FindAttr(name);
      if (spec == nullptr) continue;
      if (spec->kind == AttrKind::kFloat && attr.kind() == AttrKind::kInt) {
        out.Set(name, Attribute::Float(static_cast<double>(attr.AsInt())));
      } else if (spec->kind == AttrKind::kFloatList && attr.kind() == AttrKind::kIntList) {
        const auto& v = attr.AsIntList();
        out.Set(name, Attribute::FloatList(std::vector<double>(v.begin(), v.end())));
      }
    }
    *attrs = std::move(out);
  }

  Status ParseLocation(Location* loc) {
    Advance();  // 'loc'
    SPK_RETURN_IF_ERROR(Expect(Tok::kLParen, "'(' after 'loc'"));
    if (tok_.kind == Tok::kString) {
      std::string first = DecodeString(tok_.text);
      Advance();
      if (Consume(Tok::kColon)) {
        loc->file = std::move(first);
        SPK_ASSIGN_OR_RETURN(loc->line, ParseLineOrCol("line"));
        SPK_RETURN_IF_ERROR(Expect(Tok::kColon, "':' between line and column"));
        SPK_ASSIGN_OR_RETURN(loc->col, ParseLineOrCol("column"));
        if (tok_.kind == Tok::kString) {
          loc->module_path = DecodeString(tok_.text);
          Advance();
        }
      } else {
        loc->module_path = std::move(first);
      }
    }
    if (IsIdent("op")) {
      Advance();
      if (tok_.kind != Tok::kString) return Expected("a string after 'op'");
      loc->op_name = DecodeString(tok_.text);
      Advance();
    }
    return Expect(Tok::kRParen, "')' to close the location (or \"module.path\", op \"name\")");
  }

  StatusOr<int> ParseLineOrCol(std::string_view what) {
    int line = tok_.line, col = tok_.col;
    SPK_ASSIGN_OR_RETURN(int64_t v, ParseIntToken());
    if (v < 0 || v > std::numeric_limits<int>::max()) {
      return ErrorAt(line, col, std::string(what) + " number out of range");
    }
    return static_cast<int>(v);
  }

  Status ParseOp() {
    OpRecord rec;
    rec.pos = TextPosition{tok_.line, tok_.col};
    if (tok_.kind == Tok::kValueId) {
      while (true) {
        if (tok_.kind != Tok::kValueId) return Expected("a result name such as %3");
        rec.results.push_back({tok_.text, tok_.line, tok_.col});
        Advance();
        if (!Consume(Tok::kComma)) break;
      }
      SPK_RETURN_IF_ERROR(Expect(Tok::kEqual, "'=' after the result names"));
    }
    if (tok_.kind != Tok::kIdent) return Expected("an op name or 'constant'");
    rec.def = registry_.Find(tok_.text);
    if (rec.def == nullptr) return Error("unknown op " + Describe(tok_));
    Advance();
    SPK_RETURN_IF_ERROR(Expect(Tok::kLParen, "'(' after the op name"));
    while (tok_.kind != Tok::kRParen) {
      if (tok_.kind != Tok::kValueId) return Expected("an operand such as %3 or ')'");
      rec.operands.push_back({tok_.text, tok_.line, tok_.col});
      Advance();
      if (tok_.kind != Tok::kRParen) {
        SPK_RETURN_IF_ERROR(Expect(Tok::kComma, "',' or ')' after an operand"));
      }
    }
    Advance();
    if (tok_.kind == Tok::kLBrace) {
      SPK_RETURN_IF_ERROR(ParseAttrDict(&rec.attrs));
      CoerceAttrs(*rec.def, &rec.attrs);
    }
    rec.signature_pos = TextPosition{tok_.line, tok_.col};
    SPK_RETURN_IF_ERROR(Expect(Tok::kColon, "':' and the op's type signature"));
    int line = tok_.line, col = tok_.col;
    SPK_RETURN_IF_ERROR(ParseTypeList(&rec.operand_types));
    if (rec.operand_types.size() != rec.operands.size()) {
      return ErrorAt(line, col,
                     "the signature lists " + std::to_string(rec.operand_types.size()) +
                         " operand types for " + std::to_string(rec.operands.size()) + " operands");
    }
    SPK_RETURN_IF_ERROR(Expect(Tok::kArrow, "'->' between operand and result types"));
    line = tok_.line;
    col = tok_.col;
    SPK_RETURN_IF_ERROR(ParseTypeList(&rec.result_types));
    if (rec.result_types.size() != rec.results.size()) {
      return ErrorAt(line, col,
                     "the signature lists " + std::to_string(rec.result_types.size()) +
                         " result types for " + std::to_string(rec.results.size()) +
                         " named results");
    }
    if (IsIdent("loc")) SPK_RETURN_IF_ERROR(ParseLocation(&rec.loc));
    for (const NamedUse& r : rec.results) {
      auto [it, inserted] = defined_.emplace(r.name, TextPosition{r.line, r.col});
      if (!inserted) {
        return ErrorAt(r.line, r.col,
                       "redefinition of " + std::string(r.name) + " (first defined at " +
                           std::to_string(it->second.line) + ":" + std::to_string(it->second.col) +
                           ")");
      }
    }
    records_.push_back(std::move(rec));
    return Status::Ok();
  }

  Status ParseConstant() {
    Advance();  // 'constant'
    if (tok_.kind != Tok::kSymbol) return Expected("a constant name such as @fc1.weight");
    std::string name = SymbolName(tok_);
    int line = tok_.line, col = tok_.col;
    if (module_->FindConstant(name) != nullptr) {
      return Error("constant @" + name + " is defined twice");
    }
    Advance();
    SPK_RETURN_IF_ERROR(Expect(Tok::kColon, "':' and the constant's type"));
    int type_line = tok_.line, type_col = tok_.col;
    Type type;
    SPK_RETURN_IF_ERROR(ParseType(&type));
    if (type.timed() || !IsConstantElementType(type.element())) {
      return ErrorAt(
          type_line, type_col,
          "constant type must be an untimed f32, i8, i16 or i32 tensor, got " + type.ToString());
    }
    SPK_RETURN_IF_ERROR(Expect(Tok::kEqual, "'=' and the constant's values"));
    if (tok_.kind == Tok::kLess) {
      return Error("constant @" + name +
                   " was printed with its data elided (for reading only); elided IR cannot be "
                   "parsed, print it again without eliding constants");
    }
    size_t count = static_cast<size_t>(type.num_elements());
    SPK_ASSIGN_OR_RETURN(TensorData data, ParseData(type, count, name));
    auto added = module_->AddConstant(std::move(name), std::move(type), std::move(data));
    if (!added.ok()) return ErrorAt(line, col, std::string(added.status().message()));
    return Status::Ok();
  }

  template <typename T>
  Status ParseIntData(std::vector<T>* out, std::string_view type_name) {
    int line = tok_.line, col = tok_.col;
    SPK_ASSIGN_OR_RETURN(int64_t v, ParseIntToken());
    if (v < std::numeric_limits<T>::min() || v > std::numeric_limits<T>::max()) {
      return ErrorAt(
          line, col,
          "value " + std::to_string(v) + " is out of range for " + std::string(type_name));
    }
    out->push_back(static_cast<T>(v));
    return Status::Ok();
  }

  Status ParseFloatData(std::vector<float>* out) {
    bool word = tok_.kind == Tok::kIdent && (tok_.text == "inf" || tok_.text == "nan");
    if (tok_.kind != Tok::kInt && tok_.kind != Tok::kFloat && !word) return Expected("a number");
    float v = 0;
    auto [end, ec] = std::from_chars(tok_.text.data(), tok_.text.data() + tok_.text.size(), v);
    if (ec != std::errc() || end != tok_.text.data() + tok_.text.size()) {
      return Error("number " + Describe(tok_) + " is out of range for f32");
    }
    out->push_back(v);
    Advance();
    return Status::Ok();
  }

  StatusOr<TensorData> ParseData(const Type& type, size_t count, const std::string& name) {
    SPK_RETURN_IF_ERROR(Expect(Tok::kLBracket, "'[' and the constant's values"));
    // Never trust the declared size for allocation: each value takes at
    // least two bytes of text.
    size_t reserve = std::min(count, text_.size() / 2 + 1);
    std::vector<float> f;
    std::vector<int8_t> i8;
    std::vector<int16_t> i16;
    std::vector<int32_t> i32;
    ElementType e = type.element();
    size_t n = 0;
    switch (e) {
      case ElementType::kF32:
        f.reserve(reserve);
        break;
      case ElementType::kI8:
        i8.reserve(reserve);
        break;
      case ElementType::kI16:
        i16.reserve(reserve);
        break;
      default:
        i32.reserve(reserve);
        break;
    }
    while (tok_.kind != Tok::kRBracket) {
      if (n == count) {
        return Error("constant @" + name + " of type " + type.ToString() + " needs " +
                     std::to_string(count) + " values, got more");
      }
      switch (e) {
        case ElementType::kF32:
          SPK_RETURN_IF_ERROR(ParseFloatData(&f));
          break;
        case ElementType::kI8:
          SPK_RETURN_IF_ERROR(ParseIntData(&i8, "i8"));
          break;
        case ElementType::kI16:
          SPK_RETURN_IF_ERROR(ParseIntData(&i16, "i16"));
          break;
        default:
          SPK_RETURN_IF_ERROR(ParseIntData(&i32, "i32"));
          break;
      }
      ++n;
      if (tok_.kind != Tok::kRBracket) {
        SPK_RETURN_IF_ERROR(Expect(Tok::kComma, "',' or ']' in constant values"));
      }
    }
    if (n != count) {
      return Error("constant @" + name + " of type " + type.ToString() + " needs " +
                   std::to_string(count) + " values, got " + std::to_string(n));
    }
    Advance();
    switch (e) {
      case ElementType::kF32:
        return TensorData(std::move(f));
      case ElementType::kI8:
        return TensorData(std::move(i8));
      case ElementType::kI16:
        return TensorData(std::move(i16));
      default:
        return TensorData(std::move(i32));
    }
  }

  // Creates the ops, then connects operands, so that a use may precede its
  // definition in the text (the verifier reports that, with positions).
  Status BuildOps() {
    std::unordered_map<std::string_view, Value*> values;
    std::vector<Operation*> ops;
    ops.reserve(records_.size());
    for (OpRecord& rec : records_) {
      Operation* op = module_->CreateOp(*rec.def, {}, std::move(rec.result_types),
                                        std::move(rec.attrs), std::move(rec.loc));
      op->set_text_position(rec.pos);
      for (size_t i = 0; i < rec.results.size(); ++i) values[rec.results[i].name] = op->result(i);
      ops.push_back(op);
    }
    for (size_t k = 0; k < records_.size(); ++k) {
      const OpRecord& rec = records_[k];
      std::vector<Value*> operands;
      for (size_t i = 0; i < rec.operands.size(); ++i) {
        const NamedUse& use = rec.operands[i];
        auto it = values.find(use.name);
        if (it == values.end()) {
          return ErrorAt(use.line, use.col, "use of undefined value " + std::string(use.name));
        }
        if (it->second->type() != rec.operand_types[i]) {
          return ErrorAt(rec.signature_pos.line, rec.signature_pos.col,
                         "operand #" + std::to_string(i) + " (" + std::string(use.name) +
                             ") has type " + it->second->type().ToString() +
                             " but the signature says " + rec.operand_types[i].ToString());
        }
        operands.push_back(it->second);
      }
      ops[k]->SetOperands(operands);
    }
    return Status::Ok();
  }

  std::string_view text_;
  Lexer lexer_;
  Token tok_;
  std::string_view source_name_;
  DiagnosticEngine& diags_;
  const OpRegistry& registry_;
  std::unique_ptr<Module> module_;
  std::vector<OpRecord> records_;
  std::unordered_map<std::string_view, TextPosition> defined_;
};

}  // namespace

StatusOr<std::unique_ptr<Module>> ParseModule(std::string_view text, std::string_view source_name,
                                              DiagnosticEngine& diags, const OpRegistry& registry) {
  return Parser(text, source_name, diags, registry).Parse();
}

StatusOr<std::unique_ptr<Module>> ParseModule(std::string_view text, std::string_view source_name) {
  DiagnosticEngine diags;
  return ParseModule(text, source_name, diags, DefaultOpRegistry());
}

}  // namespace spk::compiler::ir
