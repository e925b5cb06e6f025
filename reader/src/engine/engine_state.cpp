// engine/engine_state.cpp — the Engine's part of the state file (state/snapshot.hpp): what
// a restarted reader needs, saved on the loop thread, restored part by part (a part that
// cannot be read is logged and starts fresh), and every restored decision published again.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>

#include "common/safe_text.hpp"
#include "engine/engine.hpp"
#include "state/snapshot.hpp"
#include "state/snapshot_codecs.hpp"

namespace telering::reader {

namespace {

using nlohmann::json;

}  // namespace

nlohmann::json Engine::save_state() const {
  using detail::SnapshotAccess;
  const auto endpoint_name = [this](std::uint16_t id) -> std::string {
    const CachedName* c = resolve(id);
    return c && c->kind == NameKind::Endpoint ? c->text : std::string();
  };
  const auto bot_name = [this](std::uint16_t id) -> std::string {
    const CachedName* c = resolve(id);
    return c && c->kind == NameKind::Bot ? c->text : std::string();
  };
  json bots = json::array();
  for (const auto& [id, b] : bots_) {
    const std::string name = bot_name(id);
    if (name.empty()) continue;  // a bot whose name never resolved has nothing to key it by
    bots.push_back({{"name", name}, {"last_seen_ns", b.last_seen_ns}, {"monitor", SnapshotAccess::save(b.monitor, endpoint_name)}});
  }
  json breakers = json::array();
  for (const auto& [id, b] : breakers_->all()) {
    json j = {{"component", b.component}, {"breaker", SnapshotAccess::save(b.breaker)}};
    if (b.bot_id != kNoName) {
      const std::string bot = bot_name(b.bot_id);
      if (bot.empty()) continue;
      j["bot"] = bot;  // a bot's own breaker, keyed by names (ids differ on a fresh segment)
    }
    breakers.push_back(std::move(j));
  }
  json strategies = json::array();
  for (const RecoveryStrategy& s : command_strategies_) strategies.push_back(SnapshotAccess::save(s));
  // The board's per-name reset epochs: a fresh board (another boot) must not show a bot an
  // epoch lower than one it already saw.
  json epochs = json::array();
  const BoardReader board = board_.reader();
  for (NameId id = 1; id < name_cache_.size(); ++id) {
    const std::uint64_t epoch = board.reset_epoch(id);
    if (epoch == 0) continue;
    if (const CachedName* c = resolve(id)) epochs.push_back({static_cast<unsigned>(c->kind), c->text, epoch});
  }
  // Holds from outside (the Alertmanager webhook): a restarted reader keeps a breaker forced
  // open by a firing alert until its resolution (or deadline) arrives.
  json external = json::array();
  for (const auto& [key, hold] : external_) {
    json h = json::array();
    for (const auto& [holder, until_ns] : hold.holders) h.push_back({holder, until_ns});
    external.push_back({{"breaker", key.first}, {"target", name_of(key.second)}, {"forced", hold.forced}, {"holders", std::move(h)}});
  }
  return json{{"host", SnapshotAccess::save(host_, endpoint_name)},
              {"external", std::move(external)},
              {"bots", std::move(bots)},
              {"errors", SnapshotAccess::save(errors_, bot_name, errors_.config().history_capacity)},
              {"recovery", SnapshotAccess::save(*recovery_)},
              {"command_strategies", std::move(strategies)},
              {"breakers", std::move(breakers)},
              {"counters", counters_},
              {"gauges", gauges_},
              {"warnings_by_type", warnings_by_type_},
              {"board_epochs", std::move(epochs)},
              {"board_global_epoch", board.global_reset_epoch()},
              {"shutdown_published", shutdown_published_}};
}

void Engine::restore_state(const nlohmann::json& state, const TimeShift& shift, std::uint64_t now_ns) {
  using detail::SnapshotAccess;
  if (!state.is_object()) throw SnapshotError("the state is not a JSON object");
  const auto id_of = [this](NameKind kind) {
    return [this, kind](const std::string& name) -> std::uint16_t { return name.empty() ? kNoName : names_.intern(kind, name); };
  };
  const auto endpoint_id = id_of(NameKind::Endpoint);
  const auto bot_id = id_of(NameKind::Bot);
  // What is valid is restored, section by section and entry by entry: one bad value (a
  // hand edit, a reader bug) costs its own entry, never the breakers, backoffs and history
  // with it. `undo` puts what the failed part touched back to a fresh state.
  std::size_t skipped = 0;
  const auto part = [&](std::string_view what, auto&& restore, auto&& undo) {
    try {
      restore();
    } catch (const std::exception& e) {
      ++skipped;
      spdlog::warn("state file: {} not restored ({}); starting it fresh", what, e.what());
      undo();
    }
  };
  const auto each = [&](const char* section) -> const json& {
    static const json kEmpty = json::array();
    const auto it = state.find(section);
    if (it == state.end() || !it->is_array()) {
      ++skipped;
      spdlog::warn("state file: section '{}' missing or not a list; starting it fresh", section);
      return kEmpty;
    }
    return *it;
  };
  const auto nothing = [] {};

  part("section 'host'", [&] { SnapshotAccess::load(host_, state.at("host"), shift, endpoint_id); },
       [&] { host_ = PerformanceMonitor(config_.windows); });
  for (const json& j : each("bots")) {
    NameId id = kNoName;
    part("a bot", [&] {
      id = bot_id(j.at("name").get<std::string>());
      if (id == kNoName) return;  // name table full
      Bot& b = bot(id);
      b.last_seen_ns = shift(j.at("last_seen_ns").get<std::uint64_t>());
      SnapshotAccess::load(b.monitor, j.at("monitor"), shift, endpoint_id);
    }, [&] {
      if (id == kNoName || !bots_by_id_[id]) return;
      bots_by_id_[id] = nullptr;
      bots_.erase(id);
    });
  }
  part("section 'errors'", [&] { SnapshotAccess::load(errors_, state.at("errors"), shift, bot_id); }, nothing);
  // Strategies before states: registering a strategy forgets its type's state.
  for (const json& j : each("command_strategies")) {
    part("a bot's strategy", [&] {
      RecoveryStrategy s = SnapshotAccess::load_strategy(j);
      if (!recovery_->register_recovery_strategy(s)) return;
      std::erase_if(command_strategies_, [&](const RecoveryStrategy& c) { return c.error_type == s.error_type; });
      command_strategies_.push_back(std::move(s));
    }, nothing);
  }
  part("section 'recovery'", [&] { SnapshotAccess::load(*recovery_, state.at("recovery"), shift); }, [&] {
    auto fresh = std::make_unique<RecoveryEngine>(config_.recovery);
    for (const RecoveryStrategy& s : config_.strategies) fresh->register_recovery_strategy(s);
    for (const RecoveryStrategy& s : command_strategies_) fresh->register_recovery_strategy(s);
    recovery_ = std::move(fresh);
  });
  for (const json& j : each("breakers")) {
    BreakerRegistry::Breaker* b = nullptr;
    part("a breaker", [&] {
      const NameId id = names_.intern(NameKind::Component, j.at("component").get<std::string>());
      if (id == kNoName) return;
      b = breakers_->component(id);
      if (b && j.contains("bot")) {
        const NameId own_bot = names_.intern(NameKind::Bot, j.at("bot").get<std::string>());
        b = own_bot == kNoName ? nullptr : breakers_->bot_breaker(*b, own_bot);
      }
      if (b) SnapshotAccess::load(b->breaker, j.at("breaker"), shift);
    }, [&] {
      if (b) b->breaker = CircuitBreaker(b->breaker.config());
    });
  }
  // Plain maps: an entry that is not a number (a counter once saved as null) is skipped alone.
  const auto numbers = [&](const char* section, auto&& put) {
    const auto it = state.find(section);
    if (it == state.end() || !it->is_object()) {
      ++skipped;
      spdlog::warn("state file: section '{}' missing or not an object; starting it fresh", section);
      return;
    }
    for (const auto& [name, v] : it->items()) {
      if (!v.is_number() || !std::isfinite(v.template get<double>())) {
        ++skipped;
        spdlog::warn("state file: {} '{}' is not a finite number; not restored", section, safe_text(name));
        continue;
      }
      put(name, v);
    }
  };
  numbers("counters", [&](const std::string& name, const json& v) { counters_[name] = v.get<double>(); });
  numbers("gauges", [&](const std::string& name, const json& v) { gauges_[name] = v.get<double>(); });
  numbers("warnings_by_type", [&](const std::string& name, const json& v) {
    if (v.is_number_unsigned() && (warnings_by_type_.size() < config_.error_log.max_types || warnings_by_type_.count(name)))
      warnings_by_type_[name] = v.get<std::uint64_t>();
  });
  part("the shutdown flag", [&] { shutdown_published_ = state.at("shutdown_published").get<bool>(); }, nothing);
  shutdown_published_ = shutdown_published_ || recovery_->shutdown_requested();
  std::vector<std::pair<NameId, std::uint64_t>> epochs;
  for (const json& e : each("board_epochs")) {
    part("a reset epoch", [&] {
      const auto kind = e.at(0).get<unsigned>();
      // BotBreaker names are made of ids, which differ on a fresh segment: not restored.
      if (kind == 0 || kind > kMaxNameKind || kind == static_cast<unsigned>(NameKind::BotBreaker)) return;
      const NameId id = names_.intern(static_cast<NameKind>(kind), e.at(1).get<std::string>());
      if (id != kNoName) epochs.emplace_back(id, e.at(2).get<std::uint64_t>());
    }, nothing);
  }
  std::uint64_t global_epoch = 0;
  part("the global reset epoch", [&] { global_epoch = state.at("board_global_epoch").get<std::uint64_t>(); }, nothing);
  republish(now_ns, epochs, global_epoch);
  if (state.contains("external")) {
    for (const json& e : each("external")) {
      part("an Alertmanager hold", [&] {
        const bool breaker_kind = e.at("breaker").get<bool>();
        for (const json& h : e.at("holders")) {
          ExternalAction a;
          a.kind = breaker_kind ? ExternalAction::Kind::OpenBreaker : ExternalAction::Kind::Backoff;
          a.target = e.at("target").get<std::string>();
          a.holder = h.at(0).get<std::string>();
          a.source = "restore";
          const auto until = h.at(1).get<std::uint64_t>();
          a.until_ns = until == 0 ? 0 : shift(until);
          if (a.until_ns == 0 || a.until_ns > now_ns) apply_external(a, now_ns);
        }
        // The breaker came back FORCED_OPEN with the other breakers, so re-applying the holds
        // changed nothing: whether they own that state comes from the snapshot.
        const NameId id = names_.intern(breaker_kind ? NameKind::Component : NameKind::ErrorType, e.at("target").get<std::string>());
        if (const auto held = external_.find(std::make_pair(breaker_kind, id)); held != external_.end())
          held->second.forced = e.value("forced", false);
      }, nothing);
    }
  }
  if (skipped != 0) spdlog::warn("state file: {} part(s) could not be restored (see above); the rest was", skipped);
}

void Engine::republish(std::uint64_t now_ns, const std::vector<std::pair<NameId, std::uint64_t>>& epochs, std::uint64_t global_epoch) {
  // Epochs only grow: on the same segment the board already has them (max keeps it), on a
  // fresh one they come back to what bots last saw.
  BoardHeader& header = segment_->board();
  const std::uint64_t global = std::max(global_epoch, recovery_->global_reset_epoch());
  if (header.reset_epoch.load(std::memory_order_relaxed) < global)
    header.reset_epoch.store(global, std::memory_order_release);  // pairs with BoardReader::global_reset_epoch
  const BoardReader board = board_.reader();
  for (const auto& entry : epochs) {
    // Named copies: clang 14 cannot capture structured bindings in a lambda.
    const NameId id = entry.first;
    const std::uint64_t epoch = entry.second;
    if (board.reset_epoch(id) >= epoch) continue;
    (void)board_.update(id, [&](BoardEntry& e) {
      e.reset_epoch.store(epoch, std::memory_order_release);  // pairs with BoardReader::reset_epoch
    });
  }
  const std::size_t open = breakers_->republish(now_ns);
  std::size_t backoffs = 0;
  for (const auto& state : recovery_->states()) {
    const auto& type = state.first;
    const std::uint64_t backoff_until_ns = state.second.backoff_until_ns;
    const auto attempts = state.second.attempts;
    if (backoff_until_ns <= now_ns) continue;
    const NameId id = names_.intern(NameKind::ErrorType, type);
    if (id == kNoName) continue;
    const RecoveryStrategy* strat = recovery_->strategy(type);
    const RecoveryAction action = strat ? strat->action : RecoveryAction::Backoff;
    const std::uint32_t permits = action == RecoveryAction::Retry && strat->max_retries > attempts ? strat->max_retries - attempts : 0;
    const std::uint64_t ticks = clock_.calibration().to_ticks(backoff_until_ns);
    const std::uint64_t seq = board_.update(id, [&](BoardEntry& e) {
      e.backoff_until_ns.store(backoff_until_ns, std::memory_order_release);
      e.retry_permits.store(permits, std::memory_order_release);
      e.last_action.store(static_cast<std::uint8_t>(action), std::memory_order_release);
      e.rule.store(recovery_rule(action), std::memory_order_release);
      // Pairs with BoardReader::backoff_until_ticks.
      e.backoff_until_ticks.store(ticks, std::memory_order_release);
    });
    ++backoffs;
    record_decision(seq, now_ns, type, "backoff restored", "restore");
  }
  board_.request_shutdown(shutdown_published_);
  for (auto& [id, b] : bots_) b.status = HealthStatus::Unknown;  // every bot's health goes out again
  published_status_ = HealthStatus::Unknown;
  publish_report(now_ns);
  spdlog::info("restored state: {} bot(s), {} error(s) in history, {} breaker(s) ({} not closed), {} active backoff(s){}",
               bots_.size(), errors_.history_size(), breakers_->all().size(), open, backoffs,
               shutdown_published_ ? ", shutdown requested" : "");
}

}  // namespace telering::reader
