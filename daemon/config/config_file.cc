#include "daemon/config/config_file.h"

#include <cctype>
#include <map>

namespace spk::daemon {
namespace {

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r'; }

std::string_view Trim(std::string_view text) {
  while (!text.empty() && IsSpace(text.front())) text.remove_prefix(1);
  while (!text.empty() && IsSpace(text.back())) text.remove_suffix(1);
  return text;
}

bool IsNameChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
}

bool IsName(std::string_view text) {
  if (text.empty()) return false;
  for (char c : text) {
    if (!IsNameChar(c)) return false;
  }
  return true;
}

// Drops a comment that starts at `#` or `;` preceded by whitespace (or at
// the start), so values may contain those characters when glued to text.
std::string_view StripComment(std::string_view text) {
  for (size_t i = 0; i < text.size(); ++i) {
    if ((text[i] == '#' || text[i] == ';') && (i == 0 || IsSpace(text[i - 1]))) {
      return Trim(text.substr(0, i));
    }
  }
  return Trim(text);
}

// Parses `"..."` at the start of `text` into *value; returns an error
// message or "".
std::string ParseQuoted(std::string_view text, std::string* value) {
  size_t i = 1;
  for (; i < text.size() && text[i] != '"'; ++i) {
    if (text[i] != '\\') {
      value->push_back(text[i]);
      continue;
    }
    if (++i == text.size()) break;
    switch (text[i]) {
      case '"':
      case '\\':
        value->push_back(text[i]);
        break;
      case 'n':
        value->push_back('\n');
        break;
      case 't':
        value->push_back('\t');
        break;
      default:
        return std::string("unknown escape \\") + text[i] + " in a quoted value";
    }
  }
  if (i >= text.size()) return "unterminated quoted value";
  if (!StripComment(text.substr(i + 1)).empty()) return "text after the closing quote";
  return "";
}

}  // namespace

StatusOr<std::vector<ConfigEntry>> ParseConfigText(std::string_view text, std::string_view source) {
  std::vector<ConfigEntry> entries;
  std::vector<std::string> errors;
  std::map<std::string, int> first_line;
  std::string section;
  int line_number = 0;
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);  // UTF-8 byte order mark
  while (!text.empty()) {
    ++line_number;
    const size_t end = text.find('\n');
    const std::string_view raw = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    auto error = [&](const std::string& what) {
      errors.push_back(std::string(source) + ":" + std::to_string(line_number) + ": " + what);
    };

    const std::string_view line = Trim(raw);
    if (line.empty() || line.front() == '#' || line.front() == ';') continue;
    if (line.front() == '[') {
      const std::string_view header = StripComment(line);
      if (header.back() != ']') {
        error("section header must end with ']'");
        continue;
      }
      const std::string_view name = Trim(header.substr(1, header.size() - 2));
      if (!IsName(name)) {
        error("section name '" + std::string(name) + "' must be letters, digits, '_' or '-'");
        continue;
      }
      section = std::string(name);
      continue;
    }
    const size_t equals = line.find('=');
    if (equals == std::string_view::npos) {
      error("expected 'key = value', a [section] or a # comment, got '" + std::string(line) + "'");
      continue;
    }
    ConfigEntry entry;
    entry.line = line_number;
    std::string_view key = Trim(line.substr(0, equals));
    const size_t dot = key.find('.');
    if (dot != std::string_view::npos) {
      if (!section.empty()) {
        error("key '" + std::string(key) + "' inside [" + section +
              "] must not contain '.'; write it as '" + std::string(key.substr(dot + 1)) +
              "' under [" + std::string(key.substr(0, dot)) + "]");
        continue;
      }
      entry.section = std::string(key.substr(0, dot));
      key = key.substr(dot + 1);
    } else if (section.empty()) {
      error("key '" + std::string(key) +
            "' is outside any section; put it under a [section] or write section." +
            std::string(key));
      continue;
    } else {
      entry.section = section;
    }
    if (!IsName(entry.section) || !IsName(key)) {
      error("key '" + std::string(Trim(line.substr(0, equals))) +
            "' must be letters, digits, '_' or '-'");
      continue;
    }
    entry.key = std::string(key);

    const std::string_view value = Trim(line.substr(equals + 1));
    if (!value.empty() && value.front() == '"') {
      const std::string problem = ParseQuoted(value, &entry.value);
      if (!problem.empty()) {
        error(problem);
        continue;
      }
    } else {
      entry.value = std::string(StripComment(value));
    }

    const std::string full = entry.section + "." + entry.key;
    auto [it, inserted] = first_line.emplace(full, line_number);
    if (!inserted) {
      error(full + " is set again (first set on line " + std::to_string(it->second) + ")");
      continue;
    }
    entries.push_back(std::move(entry));
  }
  if (!errors.empty()) {
    std::string message;
    for (const std::string& e : errors) message += (message.empty() ? "" : "\n") + e;
    return InvalidArgumentError(message);
  }
  return entries;
}

std::string QuoteConfigValue(std::string_view value) {
  const bool plain = !value.empty() && !IsSpace(value.front()) && !IsSpace(value.back()) &&
                     value.find_first_of("#;\"\\\n\t") == std::string_view::npos;
  if (plain) return std::string(value);
  std::string out = "\"";
  for (char c : value) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else {
      out += c;
    }
  }
  return out + "\"";
}

}  // namespace spk::daemon
