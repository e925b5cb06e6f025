// aggregate/error_log.cpp — see error_log.hpp.
#include "aggregate/error_log.hpp"

#include <algorithm>
#include <stdexcept>
#include <utility>

namespace telering::reader {

void ErrorLogConfig::validate() const {
  if (history_capacity == 0) throw std::invalid_argument("ErrorLogConfig.history_capacity must be at least 1");
  if (max_types == 0) throw std::invalid_argument("ErrorLogConfig.max_types must be at least 1");
}

namespace {

const ErrorLogConfig& validated(const ErrorLogConfig& config) {
  config.validate();
  return config;
}

void cap(std::string& s) {
  if (s.size() > ErrorLog::kMaxFieldBytes) s.resize(ErrorLog::kMaxFieldBytes);
}

constexpr Severity kReportedSeverities[] = {Severity::Low, Severity::Medium, Severity::High, Severity::Critical};

}  // namespace

ErrorLog::ErrorLog(std::uint64_t start_ns, const ErrorLogConfig& config)
    : config_(validated(config)), start_ns_(start_ns), history_(config.history_capacity), rate_(kRateWindowSeconds) {
  types_.reserve(std::min<std::size_t>(config.max_types, 1024));
}

void ErrorLog::record(ErrorEvent event) {
  cap(event.error_type);
  cap(event.component);
  cap(event.message_or_context);
  if (static_cast<std::uint8_t>(event.severity) > kMaxSeverity) event.severity = Severity::None;

  ++total_;
  ++by_severity_[static_cast<std::uint8_t>(event.severity)];
  rate_.add(event.now_ns);
  update_types(event);

  history_[history_next_] = std::move(event);
  history_next_ = (history_next_ + 1) % history_.size();
  if (history_size_ < history_.size()) ++history_size_;
}

void ErrorLog::update_types(const ErrorEvent& event) {
  if (auto it = types_.find(std::string_view(event.error_type)); it != types_.end()) {
    ErrorTypeSummary& s = *it->second;
    ++s.count;
    // Out-of-order arrival (lanes drained one after another) must not move first/last inward.
    if (event.now_ns < s.first_seen_ns) {
      s.first_seen_ns = event.now_ns;
      s.first_seen_wall_ns = event.wall_ns;
    }
    if (event.now_ns >= s.last_seen_ns) {
      s.last_seen_ns = event.now_ns;
      s.last_seen_wall_ns = event.wall_ns;
    }
    s.last_severity = event.severity;
    s.last_component = event.component;
    s.last_message = event.message_or_context;
    lru_.splice(lru_.begin(), lru_, it->second);  // iterators (and the key's view) stay valid
    return;
  }
  if (lru_.size() >= config_.max_types) {
    // Erase the index entry before the node: its key views the node's string.
    types_.erase(std::string_view(lru_.back().error_type));
    lru_.pop_back();
    ++evicted_types_;
  }
  lru_.push_front(ErrorTypeSummary{
      .error_type = event.error_type,
      .count = 1,
      .first_seen_ns = event.now_ns,
      .last_seen_ns = event.now_ns,
      .first_seen_wall_ns = event.wall_ns,
      .last_seen_wall_ns = event.wall_ns,
      .last_severity = event.severity,
      .last_component = event.component,
      .last_message = event.message_or_context,
  });
  types_.emplace(std::string_view(lru_.front().error_type), lru_.begin());
}

double ErrorLog::error_rate_per_minute(std::uint64_t now_ns) const noexcept {
  constexpr std::uint64_t kWindowNs = std::uint64_t{kRateWindowSeconds} * RateWindow::kNsPerSecond;
  const std::uint64_t elapsed_ns = now_ns > start_ns_ ? now_ns - start_ns_ : 0;
  const double in_window = static_cast<double>(rate_.count(now_ns, kRateWindowSeconds));
  if (elapsed_ns >= kWindowNs) return in_window;  // errors per 60 s is errors per minute
  const double elapsed_s = std::max(1.0, static_cast<double>(elapsed_ns) / 1e9);
  return in_window / elapsed_s * 60.0;
}

std::vector<ErrorEvent> ErrorLog::recent(std::size_t n) const {
  n = std::min(n, history_size_);
  std::vector<ErrorEvent> out;
  out.reserve(n);
  const std::size_t cap_n = history_.size();
  // The newest is just before history_next_; walk back n and emit oldest first.
  const std::size_t first = (history_next_ + cap_n - n) % cap_n;
  for (std::size_t i = 0; i < n; ++i) out.push_back(history_[(first + i) % cap_n]);
  return out;
}

std::vector<ErrorEvent> ErrorLog::history() const { return recent(history_size_); }

const ErrorTypeSummary* ErrorLog::find_type(std::string_view error_type) const noexcept {
  const auto it = types_.find(error_type);
  return it == types_.end() ? nullptr : &*it->second;
}

std::vector<ErrorTypeSummary> ErrorLog::types() const { return {lru_.begin(), lru_.end()}; }

std::uint64_t ErrorLog::count_by_severity(Severity s) const noexcept {
  const auto i = static_cast<std::uint8_t>(s);
  return i <= kMaxSeverity ? by_severity_[i] : 0;
}

ErrorStatistics ErrorLog::statistics(std::uint64_t now_ns) const {
  ErrorStatistics st;
  st.total_errors = total_;
  for (const ErrorTypeSummary& s : lru_) st.errors_by_type.emplace(s.error_type, s.count);
  for (Severity s : kReportedSeverities) st.errors_by_severity.emplace(std::string(to_string(s)), count_by_severity(s));
  if (const std::uint64_t none = count_by_severity(Severity::None); none != 0) {
    st.errors_by_severity.emplace(std::string(to_string(Severity::None)), none);
  }
  st.error_rate_per_minute = error_rate_per_minute(now_ns);
  st.recent_errors = recent(config_.recent_count);
  st.tracked_types = lru_.size();
  st.evicted_types = evicted_types_;
  return st;
}

}  // namespace telering::reader
