// The work queue of one Metal device: dispatches are encoded into one open
// command buffer (one compute encoder; a blit encoder only around copies and
// fills), which is committed without waiting every `batch` dispatches, and at
// wait(). Nothing waits per kernel. A failed command buffer raises
// std::runtime_error naming the kernels it held.
#pragma once
#include <cstddef>
#include <cstdint>
#include <deque>
#include <vector>

namespace MTL {
class BlitCommandEncoder;
class Buffer;
class CommandBuffer;
class CommandEncoder;
class CommandQueue;
class ComputeCommandEncoder;
}  // namespace MTL

namespace sc::metal {

class CommandStream {
 public:
  // `batch`: dispatches per command buffer; `max_in_flight`: committed
  // buffers allowed to run ahead before commit() waits for the oldest.
  CommandStream(MTL::CommandQueue* queue, size_t batch, size_t max_in_flight);

  // The open command buffer's encoders (opened as needed); `what` names the
  // kernel or copy being encoded, for error messages.
  MTL::ComputeCommandEncoder* compute(const char* what);
  MTL::BlitCommandEncoder* blit(const char* what);
  // The open command buffer itself, with no encoder left open on it, for
  // libraries that encode their own passes (MPS); `what` names that work.
  // The caller encodes, then calls dispatched().
  MTL::CommandBuffer* command_buffer(const char* what);
  // Counts a dispatch; commits the open command buffer every `batch` of them.
  void dispatched();
  // Keeps `buffer` (owned: released here) until the open command buffer completes.
  void keep(MTL::Buffer* buffer);

  void commit();  // the open command buffer, if it holds work; waits only when too many run ahead
  void wait();    // commit, then wait for all committed work; raises the first failure
  bool idle();    // nothing encoded and every committed buffer complete

  uint64_t open_seq() const { return seq_; }  // the sequence number of the open command buffer
  uint64_t completed_seq() const { return completed_; }

 private:
  struct Batch {
    MTL::CommandBuffer* cb = nullptr;
    std::vector<const char*> names;  // distinct kernels and copies, in order (at most 12 kept)
    size_t encoded = 0;              // everything encoded, names kept or not
    std::vector<MTL::Buffer*> kept;
    uint64_t seq = 0;
  };
  void open();
  void end_encoder();
  void note(const char* what);
  // Finishes committed batches from the oldest: all of them when `block`,
  // else those already complete. Raises the first failure after finishing.
  void reap(bool block);

  MTL::CommandQueue* queue_;
  size_t batch_, max_in_flight_;
  Batch open_;
  size_t dispatches_ = 0;
  enum class Mode { None, Compute, Blit } mode_ = Mode::None;
  MTL::CommandEncoder* encoder_ = nullptr;
  std::deque<Batch> flight_;
  uint64_t seq_ = 1, completed_ = 0;
};

}  // namespace sc::metal
