// telering-replay: feeds recorded streams through the decision logic with a config of your
// choice and prints the decisions it would have made.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <spdlog/spdlog.h>

#include "evaluate/health_report_format.hpp"
#include "state/replay.hpp"
#include "tools/command_line.hpp"

int main(int argc, char** argv) {
  CLI::App app{"telering-replay: replays records recorded by telering-reader --record-to through the health checks,\n"
               "recovery strategies and breakers with the thresholds of --config, and prints the decisions"};
  app.set_version_flag("--version", std::string("telering-replay ") + TELERING_VERSION);
  std::vector<std::string> files;
  std::string config_path;
  bool json = false;
  app.add_option("files", files, "record logs, oldest first (PATH.2 PATH.1 PATH)")->required()->check(CLI::ExistingFile);
  app.add_option("--config", config_path, "TOML config to replay with (the thresholds you want to try)");
  app.add_flag("--json", json, "print the result as JSON");
  if (const auto done = telering::reader::parse_command_line(app, argc, argv, "telering-replay")) return *done;
  spdlog::set_level(spdlog::level::off);  // the decisions are the output, not the log
  try {
    telering::reader::ReaderConfig config;
    if (!config_path.empty()) config = telering::reader::load_config(config_path);
    const telering::reader::ReplayResult r = telering::reader::replay(files, config);
    if (json) {
      nlohmann::json doc;
      doc["records"] = r.records;
      doc["duration_s"] = static_cast<double>(r.duration_ns) / 1e9;
      doc["decisions"] = nlohmann::json::array();
      for (const auto& d : r.decisions)
        doc["decisions"].push_back({{"at_s", static_cast<double>(d.now_ns) / 1e9}, {"subject", d.subject}, {"what", d.what}, {"rule", d.rule}});
      doc["alerts"] = nlohmann::json::array();
      for (const auto& a : r.alerts) doc["alerts"].push_back({{"key", a.key}, {"text", a.text}});
      doc["health"] = telering::reader::health_report_to_json(r.final_health);
      doc["error_statistics"] = telering::reader::error_statistics_to_json(r.final_errors);
      std::puts(telering::reader::to_json_text(doc, 2).c_str());
      return 0;
    }
    std::printf("replayed %llu records over %.1f s with %s\n", static_cast<unsigned long long>(r.records),
                static_cast<double>(r.duration_ns) / 1e9, config_path.empty() ? "the default config" : config_path.c_str());
    std::printf("%zu decisions:\n", r.decisions.size());
    for (const auto& d : r.decisions)
      std::printf("  +%9.3fs  %s: %s [%s]\n", static_cast<double>(d.now_ns) / 1e9, d.subject.c_str(), d.what.c_str(), d.rule.c_str());
    std::printf("%zu alerts:\n", r.alerts.size());
    for (const auto& a : r.alerts) std::printf("  %s: %s\n", a.key.c_str(), a.text.c_str());
    std::fputs(telering::reader::format_health_summary(r.final_health).c_str(), stdout);
    return 0;
  } catch (const telering::reader::ConfigError& e) {
    std::fprintf(stderr, "telering-replay: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "telering-replay: %s\n", e.what());
    return 1;
  }
}
