// Fuzzes the worker channel's decoding: arbitrary bytes go through the frame splitter (fed in
// pieces, as a socket delivers them) and every frame through the decoder of its direction:
// the coordinator's of worker messages (results, failures, hand-backs) and the worker's of
// the job's settings and of tasks (file batches and table slices). Whatever the bytes, each
// decoder returns or throws parallel_run's Error; it never reads out of bounds nor allocates
// what the bytes cannot back. The worker's environment variable is parsed too.
//
// Input: [1 byte: piece size][the stream]. Seeds: tests/fuzz/corpus/channel_frames/, frames
// made by the encoder.
#include <parallel_run/detail/table_slice.hpp>
#include <parallel_run/detail/worker_process.hpp>
#include <parallel_run/detail/worker_protocol.hpp>

#include <cstddef>
#include <cstdint>
#include <exception>
#include <string_view>

namespace pd = parallel_run::detail;

namespace {

template <class Fn>
void guarded(Fn&& fn) {
  try {
    fn();
  } catch (const parallel_run::Error&) {
    // A corrupt message is an error: that is the point.
  }
}

void decode(const pd::Frame& f) {
  guarded([&] {
    const pd::WorkerMessage m = pd::decode_worker_message(f);
    if (m.type == pd::MessageType::result) pd::check_outcome(m.outcome, m.id % 1024, 0);
  });
  guarded([&] {
    pd::WireReader r(f.payload);
    switch (f.type) {
      case pd::MessageType::job:
        pd::decode_config(r);
        r.get_string();  // working folder
        r.get_string();  // metrics file
        r.get_string();  // record file
        break;
      case pd::MessageType::task: {
        r.get<std::uint64_t>();
        r.get<std::int64_t>();
        pd::WireReader again = r;
        pd::decode_task<parallel_run::FileBatch>(r);
        pd::decode_task<pd::TableSlice>(again);
        break;
      }
      case pd::MessageType::withdraw:
        r.get<std::uint64_t>();
        break;
      default:
        break;
    }
  });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t piece = std::size_t{data[0]} + 1;
  const std::string_view stream(reinterpret_cast<const char*>(data + 1), size - 1);
  pd::WorkerEnv::parse(stream);
  pd::FrameBuffer in;
  for (std::size_t at = 0; at < stream.size(); at += piece) {
    const std::string_view chunk = stream.substr(at, piece);
    in.append(chunk.data(), chunk.size());
    try {
      while (const auto f = in.next())
        decode(*f);
    } catch (const parallel_run::Error&) {
      return 0;  // a corrupt length: the coordinator gives up on such a worker
    }
    in.compact();
  }
  return 0;
}
