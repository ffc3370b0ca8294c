#include "core/log.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

namespace hearth::log {
namespace {

Level level_from_env() {
  const char* env = std::getenv("HEARTH_LOG");
  if (env == nullptr) return Level::kWarn;
  if (std::strcmp(env, "error") == 0) return Level::kError;
  if (std::strcmp(env, "info") == 0) return Level::kInfo;
  if (std::strcmp(env, "debug") == 0) return Level::kDebug;
  return Level::kWarn;
}

std::atomic<Level>& current() {
  static std::atomic<Level> value{level_from_env()};
  return value;
}

}  // namespace

Level level() { return current().load(std::memory_order_relaxed); }
void set_level(Level l) { current().store(l, std::memory_order_relaxed); }

void write(Level l, std::string_view message) {
  static std::mutex mutex;
  static const char* const names[] = {"error", "warning", "info", "debug"};
  std::lock_guard<std::mutex> lock(mutex);
  std::fprintf(stderr, "hearth: %s: %.*s\n", names[static_cast<int>(l)], static_cast<int>(message.size()),
               message.data());
}

}  // namespace hearth::log
