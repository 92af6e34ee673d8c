#include "gpu/metal/command_stream.h"

#include <Foundation/Foundation.hpp>
#include <Metal/Metal.hpp>
#include <cstring>
#include <stdexcept>
#include <string>

namespace sc::metal {

namespace {
constexpr size_t kNamesKept = 12;
}

CommandStream::CommandStream(MTL::CommandQueue* queue, size_t batch, size_t max_in_flight)
    : queue_(queue), batch_(batch ? batch : 1), max_in_flight_(max_in_flight ? max_in_flight : 1) {}

void CommandStream::open() {
  if (open_.cb) return;
  // commandBuffer() is autoreleased: keep our own reference until it completes.
  open_.cb = queue_->commandBuffer()->retain();
  open_.seq = seq_;
}

void CommandStream::end_encoder() {
  if (mode_ == Mode::None) return;
  encoder_->endEncoding();
  encoder_->release();
  encoder_ = nullptr;
  mode_ = Mode::None;
}

void CommandStream::note(const char* what) {
  ++open_.encoded;
  for (const char* n : open_.names)
    if (n == what || std::strcmp(n, what) == 0) return;
  if (open_.names.size() < kNamesKept) open_.names.push_back(what);
}

MTL::ComputeCommandEncoder* CommandStream::compute(const char* what) {
  open();
  if (mode_ != Mode::Compute) {
    end_encoder();
    // Serial dispatch: each dispatch sees the writes of the ones before it.
    encoder_ = open_.cb->computeCommandEncoder(MTL::DispatchTypeSerial)->retain();
    mode_ = Mode::Compute;
  }
  note(what);
  return static_cast<MTL::ComputeCommandEncoder*>(encoder_);
}

MTL::BlitCommandEncoder* CommandStream::blit(const char* what) {
  open();
  if (mode_ != Mode::Blit) {
    end_encoder();
    encoder_ = open_.cb->blitCommandEncoder()->retain();
    mode_ = Mode::Blit;
  }
  note(what);
  return static_cast<MTL::BlitCommandEncoder*>(encoder_);
}

MTL::CommandBuffer* CommandStream::command_buffer(const char* what) {
  open();
  end_encoder();  // an encoder of ours left open would make the library's own encoder invalid
  note(what);
  return open_.cb;
}

void CommandStream::keep(MTL::Buffer* buffer) {
  open();
  open_.kept.push_back(buffer);
}

void CommandStream::dispatched() {
  if (++dispatches_ >= batch_) commit();
}

void CommandStream::commit() {
  dispatches_ = 0;
  if (!open_.cb) return;
  end_encoder();
  open_.cb->commit();
  flight_.push_back(std::move(open_));
  open_ = Batch();
  ++seq_;
  reap(false);
  while (flight_.size() > max_in_flight_) {  // bound how far the CPU runs ahead
    flight_.front().cb->waitUntilCompleted();
    reap(false);
  }
}

void CommandStream::wait() {
  commit();
  reap(true);
}

bool CommandStream::idle() {
  if (open_.cb) return false;
  reap(false);
  return flight_.empty();
}

void CommandStream::reap(bool block) {
  std::string failure;
  while (!flight_.empty()) {
    Batch& b = flight_.front();
    if (block) b.cb->waitUntilCompleted();
    const MTL::CommandBufferStatus st = b.cb->status();
    if (st != MTL::CommandBufferStatusCompleted && st != MTL::CommandBufferStatusError) break;
    if (st == MTL::CommandBufferStatusError && failure.empty()) {
      NS::Error* e = b.cb->error();
      std::string why = e && e->localizedDescription() ? e->localizedDescription()->utf8String() : "unknown error";
      std::string names;
      for (const char* n : b.names) names += (names.empty() ? "'" : ", '") + std::string(n) + "'";
      if (b.encoded > b.names.size()) names += " (" + std::to_string(b.encoded) + " commands in all)";
      failure = "metal: a command buffer failed (" + why + "); it ran " + names;
    }
    for (MTL::Buffer* k : b.kept) k->release();
    b.cb->release();
    completed_ = b.seq;
    flight_.pop_front();
  }
  if (!failure.empty()) throw std::runtime_error(failure);
}

}  // namespace sc::metal
