// spikectl stream: feeds spike events to a deployment through a streaming
// session and prints each output chunk as it arrives.
//
// Events are read as text, one "TIMESTEP INDEX" per line, and sent as
// SPIKES chunks (or, with --dense, as per-timestep tensors of the port).
// The session opens first and events are pushed while they are read, so a
// live source (a sensor piped to stdin) sees its outputs as it goes: a chunk
// of K steps is sent once an event of a later step arrives or the input
// ends, and whenever the input has nothing more to read yet, spikectl waits
// for the daemon to consume what was sent and prints the outputs.
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <sstream>
#include <utility>

#include "cli/spikectl/infer.h"
#include "cli/spikectl/output.h"
#include "cli/spikectl/verbs.h"

namespace spk::spikectl {
namespace {

void PrintChunk(Context& ctx, const nlohmann::json& outputs, const protocol::StreamChunk& chunk) {
  const std::string port =
      chunk.port < outputs.size() ? outputs[chunk.port].value("name", "?") : "?";
  nlohmann::json line = {{"first_step", chunk.first_step}, {"steps", chunk.steps}, {"port", port}};
  std::optional<size_t> prediction;
  if (const auto* t = std::get_if<protocol::Tensor>(&chunk.body)) {
    line["shape"] = t->shape;
    line["values"] = t->ToFloat();
    prediction = Prediction(*t);
  } else {
    nlohmann::json events = nlohmann::json::array();
    for (const auto& e : std::get<protocol::SpikeEvents>(chunk.body).events) {
      events.push_back({e.timestep, e.index});
    }
    line["events"] = events;
  }
  line["prediction"] = prediction ? nlohmann::json(*prediction) : nlohmann::json();
  if (ctx.json) {
    *ctx.out << line.dump() << "\n" << std::flush;  // JSON Lines, as they come
    return;
  }
  *ctx.out << "step " << chunk.first_step << "  " << port;
  if (prediction) *ctx.out << "  prediction " << *prediction;
  *ctx.out << "\n" << std::flush;
}

// Lines of a file descriptor, read without stdio's buffering so that Ready
// can tell whether the next line would block.
class LineReader {
 public:
  explicit LineReader(int fd) : fd_(fd) {}

  // True when Next can start without waiting: a whole line is buffered, the
  // input ended, or the descriptor has bytes to read.
  bool Ready() const {
    if (eof_ || buffer_.find('\n') != std::string::npos) return true;
    pollfd p{fd_, POLLIN, 0};
    return ::poll(&p, 1, 0) > 0;
  }

  // The next line without its newline; nullopt at the end of the input.
  StatusOr<std::optional<std::string>> Next() {
    for (;;) {
      if (const size_t nl = buffer_.find('\n'); nl != std::string::npos) {
        std::string line = buffer_.substr(0, nl);
        buffer_.erase(0, nl + 1);
        return std::optional<std::string>(std::move(line));
      }
      if (eof_) {
        if (buffer_.empty()) return std::optional<std::string>();
        return std::optional<std::string>(std::exchange(buffer_, {}));
      }
      char chunk[4096];
      const ssize_t n = ::read(fd_, chunk, sizeof(chunk));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0)
        return InvalidArgumentError(std::string("reading events: ") + std::strerror(errno));
      if (n == 0) eof_ = true;
      buffer_.append(chunk, static_cast<size_t>(std::max<ssize_t>(n, 0)));
    }
  }

 private:
  int fd_;
  std::string buffer_;
  bool eof_ = false;
};

}  // namespace

int RunStream(Context& ctx, const Args& args) {
  if (args.positional.empty() || args.positional.size() > 2) {
    return UsageError(ctx, "stream", "needs DEPLOYMENT and optionally an EVENTS file");
  }
  const std::string& name = args.positional[0];
  const std::string path = args.positional.size() > 1 ? args.positional[1] : "-";
  auto per_chunk = args.Uint("steps-per-chunk", 1, 4096);
  auto total_steps = args.Uint("steps", 1, 1u << 30);
  if (!per_chunk.ok()) return UsageError(ctx, "stream", std::string(per_chunk.status().message()));
  if (!total_steps.ok())
    return UsageError(ctx, "stream", std::string(total_steps.status().message()));
  const uint32_t chunk_steps = static_cast<uint32_t>(per_chunk->value_or(1));

  int fd = 0;  // stdin
  if (path != "-") {
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
      return Fail(ctx, "stream", NotFoundError("cannot open " + path), nullptr, kExitUsage);
  }
  struct CloseFile {
    int fd;
    ~CloseFile() {
      if (fd > 0) ::close(fd);
    }
  } close_file{fd};
  LineReader reader(fd);

  auto connection = ctx.Connect();
  if (!connection.ok()) return Fail(ctx, "stream", connection.status());
  client::Client& c = **connection;
  protocol::SessionOpenRequest request;
  request.deployment = name;
  auto opened = c.OpenSession(request);
  if (!opened.ok()) return Fail(ctx, "stream", opened.status(), c.last_error_details());
  client::Session& session = **opened;
  const nlohmann::json& info = session.info();
  const auto inputs = info.value("inputs", nlohmann::json::array());
  const auto outputs = info.value("outputs", nlohmann::json::array());
  if (inputs.size() != 1 || !inputs[0].contains("shape")) {
    return Fail(ctx, "stream", UnimplementedError("stream needs a deployment with one input"));
  }
  const auto shape = inputs[0]["shape"].get<std::vector<uint32_t>>();
  uint64_t neurons = 1;
  for (uint32_t d : shape) neurons *= d;

  // A failover moves the session to an emulated board (and back) while it
  // goes on: say so where it happened among the outputs.
  const auto print_notices = [&] {
    for (const nlohmann::json& n : session.TakeNotices()) {
      if (ctx.json) {
        *ctx.out << nlohmann::json{{"notice", n}}.dump() << "\n";
      } else {
        *ctx.err << "stream: " << Field(n, "stage") << ": " << Field(n, "message") << "\n";
      }
    }
  };
  const auto print_arrived = [&]() -> Status {
    SPK_ASSIGN_OR_RETURN(auto arrived, session.TakeArrived());
    for (const auto& chunk : arrived) PrintChunk(ctx, outputs, chunk);
    print_notices();
    return Status::Ok();
  };
  // Events go as SPIKES chunks (docs/protocol.md, "Streaming sessions");
  // --dense sends the same steps as [steps, ...port shape] tensors.
  const bool dense = args.Has("dense");
  uint64_t first = 0;                                  // the first step of the chunk being filled
  std::vector<std::pair<uint64_t, uint64_t>> pending;  // its events
  const auto push = [&](uint32_t n) -> Status {
    std::vector<float> frame(dense ? n * neurons : 0, 0.0f);
    protocol::SpikeEvents spikes;
    for (const auto& [t, i] : pending) {
      if (dense) {
        frame[(t - first) * neurons + i] = 1.0f;
      } else {
        spikes.events.push_back({static_cast<uint32_t>(t - first), static_cast<uint32_t>(i), 0});
      }
    }
    pending.clear();
    std::vector<uint32_t> chunk_shape = {n};
    chunk_shape.insert(chunk_shape.end(), shape.begin(), shape.end());
    std::variant<protocol::Tensor, protocol::SpikeEvents> body = std::move(spikes);
    if (dense)
      body = protocol::Tensor::FromValues<float>(chunk_shape, std::span<const float>(frame));
    SPK_RETURN_IF_ERROR(session.Push(0, n, std::move(body)));
    first += n;
    return print_arrived();
  };
  const auto input_error = [&](size_t line, const std::string& what) {
    return Fail(ctx, "stream",
                InvalidArgumentError(path + ":" + std::to_string(line) + ": " + what), nullptr,
                kExitUsage);
  };

  uint64_t end = 0;  // one past the last event's step
  for (size_t line = 1;; ++line) {
    if (!reader.Ready()) {
      // The source is quiet: show what the steps sent so far produced.
      Status shown = session.WaitConsumed();
      if (shown.ok()) shown = print_arrived();
      if (!shown.ok()) return Fail(ctx, "stream", shown, c.last_error_details());
    }
    auto next = reader.Next();
    if (!next.ok()) return Fail(ctx, "stream", next.status(), nullptr, kExitUsage);
    if (!next->has_value()) break;
    std::string text = std::move(**next);
    if (const size_t hash = text.find('#'); hash != std::string::npos) text.resize(hash);
    std::istringstream fields(text);
    uint64_t t = 0, i = 0;
    if (!(fields >> t)) continue;  // blank line
    std::string extra;
    if (!(fields >> i) || (fields >> extra)) return input_error(line, "expected TIMESTEP INDEX");
    if (t + 1 < end) return input_error(line, "timesteps must not decrease");
    if (i >= neurons) {
      return input_error(line, "event at step " + std::to_string(t) + " has index " +
                                   std::to_string(i) + "; the input port has " +
                                   std::to_string(neurons) + " neurons");
    }
    // An event of a later step completes the chunks before it.
    while (t >= first + chunk_steps) {
      if (Status s = push(chunk_steps); !s.ok())
        return Fail(ctx, "stream", s, c.last_error_details());
    }
    pending.emplace_back(t, i);
    end = t + 1;
  }
  const uint64_t steps = std::max<uint64_t>(end, total_steps->value_or(0));
  if (steps == 0) return UsageError(ctx, "stream", "no events and no --steps: nothing to stream");
  while (first < steps) {
    const uint32_t n = static_cast<uint32_t>(std::min<uint64_t>(chunk_steps, steps - first));
    if (Status s = push(n); !s.ok()) return Fail(ctx, "stream", s, c.last_error_details());
  }
  // Outputs come as steps complete; drain them with the close.
  std::vector<protocol::StreamChunk> remaining;
  auto totals = session.Close(/*drain=*/true, &remaining);
  if (!totals.ok()) return Fail(ctx, "stream", totals.status(), c.last_error_details());
  for (const auto& chunk : remaining) PrintChunk(ctx, outputs, chunk);
  print_notices();
  if (ctx.json) {
    *ctx.out << nlohmann::json{{"closed", *totals}}.dump() << "\n";
  } else {
    *ctx.out << "session " << Field(*totals, "session") << " closed after " << steps << " steps\n";
  }
  return kExitOk;
}

}  // namespace spk::spikectl
