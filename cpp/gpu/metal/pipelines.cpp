#include "gpu/metal/pipelines.h"

#include <dlfcn.h>

#include <Foundation/Foundation.hpp>
#include <Metal/Metal.hpp>
#include <cstdlib>
#include <stdexcept>

#include "gpu/metal/autorelease.h"
#include "gpu/runtime.h"

namespace sc::metal {

namespace {
std::string describe(NS::Error* e) {
  return e && e->localizedDescription() ? e->localizedDescription()->utf8String() : "no reason given";
}
NS::String* ns_string(const std::string& s) { return NS::String::string(s.c_str(), NS::UTF8StringEncoding); }
}  // namespace

std::string metallib_path() {
  if (const char* env = std::getenv("SPLATCORE_METALLIB"); env && *env) return env;
  Dl_info info{};
  if (!dladdr(reinterpret_cast<const void*>(&metallib_path), &info) || !info.dli_fname)
    throw std::runtime_error("metal: cannot find the _core module's path (dladdr failed) to load splatcore.metallib");
  std::string module = info.dli_fname;
  const size_t slash = module.rfind('/');
  return (slash == std::string::npos ? std::string(".") : module.substr(0, slash)) + "/splatcore.metallib";
}

MTL::Library* PipelineCache::library() {
  if (library_) return library_;
  const std::string path = metallib_path();
  NS::Error* err = nullptr;
  library_ = device_->newLibrary(ns_string(path), &err);
  if (!library_)
    throw std::runtime_error("metal: cannot load " + path + " (" + describe(err) +
                             "); a Metal build installs splatcore.metallib beside the _core module");
  return library_;
}

const Pipeline& PipelineCache::get(const gpu::Kernel& kernel) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = cache_.find(&kernel);
  if (it != cache_.end()) return it->second;
  AutoreleaseScope pool;
  MTL::Function* fn = library()->newFunction(ns_string(kernel.name()));
  if (!fn)
    throw std::runtime_error(std::string("metal: splatcore.metallib has no kernel named '") + kernel.name() + "'");
  NS::Error* err = nullptr;
  MTL::ComputePipelineState* state = device_->newComputePipelineState(fn, &err);
  fn->release();
  if (!state)
    throw std::runtime_error(std::string("metal: cannot build the pipeline of kernel '") + kernel.name() +
                             "': " + describe(err));
  Pipeline p;
  p.state = state;
  p.max_threads = state->maxTotalThreadsPerThreadgroup();
  p.static_shared = state->staticThreadgroupMemoryLength();
  return cache_.emplace(&kernel, p).first->second;
}

}  // namespace sc::metal
