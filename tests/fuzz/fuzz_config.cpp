// libFuzzer: any text as a reader config. Either a config or one ConfigError line.
#include <cstdint>
#include <string_view>

#include "config/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    (void)telering::reader::parse_config(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.toml");
  } catch (const telering::reader::ConfigError& e) {
    if (std::string_view(e.what()).substr(0, 9) != "fuzz.toml") __builtin_trap();  // every error names its source
  }
  return 0;
}
