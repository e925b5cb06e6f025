// tools/command_line.hpp — parsing the tools' command lines (CLI11), the same way
// in telering-reader, telering-stat and telering-replay. Header-only: only the mains link CLI11.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdio>
#include <optional>
#include <string_view>

namespace telering::reader {

// Parses argv into `app`. Returns the exit code when the program is done: --help and
// --version print and give 0; a bad command line prints "TOOL: what (see --help)" on stderr
// and gives 2. nullopt: go on.
[[nodiscard]] inline std::optional<int> parse_command_line(CLI::App& app, int argc, char** argv, std::string_view tool) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "%.*s: %s (see --help)\n", static_cast<int>(tool.size()), tool.data(), e.what());
    return 2;
  }
  return std::nullopt;
}

}  // namespace telering::reader
