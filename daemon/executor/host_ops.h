// Host segments: the float work a compiled model does on the host, around the
// chip (the classifier head, reductions over tokens and time, a spike matmul
// the compiler chose not to put on cores).
//
// A host segment names one op from the fixed set below; its attributes are a
// JSON object and its weights are HostTensors of the board image. This set is
// part of the board-image contract (docs/board-image.md): the compiler emits
// only these ops and the executor implements exactly them.
//
//   op           inputs  attributes                        tensors
//   linear       x       -                                 weight [out,in], bias [out] (optional)
//   matmul       a, b    transpose_b (bool), scale (float)  -
//   add          a, b    -                                 -
//   mul          a, b    -                                 -
//   mul_scalar   x       scalar (float)                    -
//   sum, mean    x       dims (int list), keepdim (bool)   -
//   reshape      x       shape (int list, per step)        -
//   permute      x       dims (int list)                   -
//   transpose    x       dim0, dim1 (int)                  -
//
// Values are float tensors, either per timestep (timed: a leading T) or not.
// Dim numbers count T as dim 0 of a timed value, as the spike IR does; linear
// acts on the last dim; add and mul broadcast like NumPy.
//
// Thread safety: HostOp objects are immutable after Create; Apply may run on
// several threads at once.
#ifndef SPK_DAEMON_EXECUTOR_HOST_OPS_H_
#define SPK_DAEMON_EXECUTOR_HOST_OPS_H_

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "base/status.h"
#include "hal/format/board_image.h"

namespace spk::executor {

// A float tensor; when `timed`, shape[0] is the number of timesteps.
struct HostValue {
  bool timed = false;
  std::vector<int64_t> shape;
  std::vector<float> data;

  int64_t num_elements() const;
  // Timestep t alone, still timed (shape [1, ...]) so that dim numbers keep
  // their meaning; `timed` must be true.
  HostValue Step(int64_t t) const;
};

class HostOp {
 public:
  virtual ~HostOp() = default;

  // Parses and checks a segment: its op name, arity, attributes and tensors.
  // INVALID_ARGUMENT names the segment and what is wrong.
  static StatusOr<std::unique_ptr<HostOp>> Create(const hal::format::HostSegment& segment);

  // Computes the outputs (one) from the inputs. INVALID_ARGUMENT when the
  // shapes do not fit, naming the segment.
  virtual StatusOr<HostValue> Apply(std::span<const HostValue* const> inputs) const = 0;

  // True when the op works on each timestep alone (everything but a
  // reduction over T), so it can run step by step in streaming.
  virtual bool pointwise_in_time() const { return true; }

  const std::string& name() const { return name_; }

 protected:
  std::string name_;
};

}  // namespace spk::executor

#endif  // SPK_DAEMON_EXECUTOR_HOST_OPS_H_
