// Compiled with nothing but libbaton's public headers on the include path
// (tests/CMakeLists.txt stages them): a worker author's build needs libuv
// and the standard library, and never sees the codec or cereal.
#include <baton/changed_keys.h>
#include <baton/worker.h>

#if defined(CEREAL_CEREAL_HPP_) || defined(CEREAL_MACROS_HPP_)
#error "baton/worker.h pulls in cereal"
#endif

int main() {
  uv_loop_t* loop = uv_default_loop();
  auto worker = baton::Worker::create(loop, {.name = "header check"});
  if (!worker) return 1;
  (*worker)->on_drain([](const baton::DrainRequest&) {});
  return (*worker)->ready() ? 0 : 1;
}
