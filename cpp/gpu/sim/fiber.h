// Fibers for the simulator: each simulated GPU thread of a group runs on its own
// small stack, and a barrier or a SIMD collective switches back to the group's
// scheduler. x86-64 Linux uses a few instructions of assembly (saves the
// callee-saved registers of the System V ABI and swaps stack pointers, ~10 ns);
// elsewhere POSIX ucontext (slower: it saves the signal mask with a syscall).
#pragma once
#include <cstddef>

#if defined(__x86_64__) && defined(__linux__)
#define SC_FIBER_ASM 1
#else
#define SC_FIBER_ASM 0
#if defined(__APPLE__) && !defined(_XOPEN_SOURCE)
#define _XOPEN_SOURCE 700
#endif
#include <ucontext.h>
#endif

namespace sc::sim {

struct FiberContext {
#if SC_FIBER_ASM
  void* sp = nullptr;
#else
  ucontext_t uc;
#endif
};

// Prepares `c` to run entry(arg) on [stack, stack + size) at the next switch
// into it. entry must never return: it switches away for the last time.
void fiber_make(FiberContext& c, void* stack, size_t size, void (*entry)(void*), void* arg);
// Saves the running context into `from` and resumes `to`.
void fiber_switch(FiberContext& from, FiberContext& to);

}  // namespace sc::sim
