#include "gpu/sim/fiber.h"

#include <cstdint>

namespace sc::sim {

#if SC_FIBER_ASM
// sc_fiber_swap(void** save_sp, void* to_sp): pushes rbp, rbx, r12-r15 and the
// SSE/x87 control words, stores rsp, loads the other stack and pops its frame.
// The first switch into a fiber "returns" into sc_fiber_start, which calls
// r12(rbx), i.e. entry(arg).
asm(R"(
  .text
  .globl sc_fiber_swap
  .type sc_fiber_swap, @function
sc_fiber_swap:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  subq $8, %rsp
  stmxcsr (%rsp)
  fnstcw 4(%rsp)
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  ldmxcsr (%rsp)
  fldcw 4(%rsp)
  addq $8, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size sc_fiber_swap, .-sc_fiber_swap

  .globl sc_fiber_start
  .type sc_fiber_start, @function
sc_fiber_start:
  movq %rbx, %rdi
  callq *%r12
  ud2
  .size sc_fiber_start, .-sc_fiber_start
)");
extern "C" void sc_fiber_swap(void** save_sp, void* to_sp);
extern "C" void sc_fiber_start();

void fiber_make(FiberContext& c, void* stack, size_t size, void (*entry)(void*), void* arg) {
  uintptr_t top = (reinterpret_cast<uintptr_t>(stack) + size) & ~uintptr_t(15);
  // The return slot sits at 8 mod 16, so that sc_fiber_start's call sees an
  // ABI-aligned stack. Below it the frame sc_fiber_swap pops, lowest first:
  // control words, r15, r14, r13, r12 (entry), rbx (arg), rbp.
  uint64_t* ret = reinterpret_cast<uint64_t*>(top - 24);
  ret[0] = reinterpret_cast<uint64_t>(&sc_fiber_start);
  ret[-1] = 0;                                     // rbp
  ret[-2] = reinterpret_cast<uint64_t>(arg);        // rbx
  ret[-3] = reinterpret_cast<uint64_t>(entry);      // r12
  ret[-4] = ret[-5] = ret[-6] = 0;                  // r13, r14, r15
  ret[-7] = 0x1F80ull | (0x037Full << 32);          // default MXCSR, x87 control word
  c.sp = &ret[-7];
}

void fiber_switch(FiberContext& from, FiberContext& to) { sc_fiber_swap(&from.sp, to.sp); }

#else

namespace {
struct Start {
  void (*entry)(void*);
  void* arg;
};
// makecontext passes int arguments: the pointer travels in two halves.
void trampoline(int hi, int lo) {
  uintptr_t p = (uintptr_t(uint32_t(hi)) << 32) | uintptr_t(uint32_t(lo));
  Start* s = reinterpret_cast<Start*>(p);
  s->entry(s->arg);
}
}  // namespace

void fiber_make(FiberContext& c, void* stack, size_t size, void (*entry)(void*), void* arg) {
  // The start record lives at the top of the fiber's own stack.
  uintptr_t top = (reinterpret_cast<uintptr_t>(stack) + size - sizeof(Start)) & ~uintptr_t(15);
  Start* s = reinterpret_cast<Start*>(top);
  s->entry = entry;
  s->arg = arg;
  getcontext(&c.uc);
  c.uc.uc_stack.ss_sp = stack;
  c.uc.uc_stack.ss_size = top - reinterpret_cast<uintptr_t>(stack);
  c.uc.uc_link = nullptr;
  uintptr_t p = reinterpret_cast<uintptr_t>(s);
  makecontext(&c.uc, reinterpret_cast<void (*)()>(&trampoline), 2, int(uint32_t(p >> 32)),
              int(uint32_t(p)));
}

void fiber_switch(FiberContext& from, FiberContext& to) { swapcontext(&from.uc, &to.uc); }

#endif

}  // namespace sc::sim
