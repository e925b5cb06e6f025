// engine/engine_detail.hpp — text shared by the Engine's source files (not part of its API).
#pragma once

#include <cstdio>
#include <string>

namespace telering::reader::detail {

// "12.5 s": a wait or deadline in a decision line.
[[nodiscard]] inline std::string format_seconds(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f s", s);
  return buf;
}

}  // namespace telering::reader::detail
