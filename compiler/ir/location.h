// Source locations of IR operations.
//
// A location ties an op back to what the user wrote: the TorchScript source
// file, line and column, the module path inside the network
// ("blocks.0.attn.q_lif") and, optionally, the TorchScript op it came from
// ("aten::linear"). Every diagnostic carries one, so an error names the layer
// and the line at fault. Any part may be missing; an empty location means
// "unknown".
//
// Thread safety: plain value.
#ifndef SPK_COMPILER_IR_LOCATION_H_
#define SPK_COMPILER_IR_LOCATION_H_

#include <string>

namespace spk::compiler::ir {

struct Location {
  std::string file;         // source file; empty when unknown
  int line = 0;             // 1-based; 0 when unknown
  int col = 0;              // 1-based; 0 when unknown
  std::string module_path;  // e.g. "blocks.0.attn.q_lif"; may be empty
  std::string op_name;      // e.g. "aten::linear"; may be empty

  bool empty() const {
    return file.empty() && line == 0 && col == 0 && module_path.empty() && op_name.empty();
  }
  bool has_file_position() const { return !file.empty() || line != 0; }

  friend bool operator==(const Location& a, const Location& b) = default;
};

// "file:line:col", leaving out the parts that are unknown; empty if all are.
std::string FormatFilePosition(const Location& loc);

// A position in an IR text file, kept for ops parsed from text so that
// diagnostics about ops without a source location still point somewhere. It
// is not printed and not part of an op's identity.
struct TextPosition {
  int line = 0;
  int col = 0;
};

}  // namespace spk::compiler::ir

#endif  // SPK_COMPILER_IR_LOCATION_H_
