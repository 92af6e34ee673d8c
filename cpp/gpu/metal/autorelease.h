// An autorelease pool for the length of a scope. metal-cpp calls that return
// autoreleased objects (commandBuffer(), error(), name(), NS::String::string)
// may run on threads without a pool of their own (Python's); this one drains
// them when the scope ends, exceptions included.
#pragma once
#include <Foundation/Foundation.hpp>

namespace sc::metal {

class AutoreleaseScope {
 public:
  AutoreleaseScope() : pool_(NS::AutoreleasePool::alloc()->init()) {}
  ~AutoreleaseScope() { pool_->release(); }
  AutoreleaseScope(const AutoreleaseScope&) = delete;
  AutoreleaseScope& operator=(const AutoreleaseScope&) = delete;

 private:
  NS::AutoreleasePool* pool_;
};

}  // namespace sc::metal
