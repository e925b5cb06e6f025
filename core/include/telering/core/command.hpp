// telering/core/command.hpp — what a bot asks of the reader, carried in the bot's own lane.
//
// A command is a Record of kind Command: aux_id = CommandCode, name_id = its target (a
// component or error type id), value = the command id (unique per segment, from the
// header's next_command_id), severity and context = arguments. The reader applies commands
// in lane order and acknowledges each on the board (BoardWriter::acknowledge_command); a bot
// waits for the acknowledgement with BoardReader::command_status. Unlike metrics, a command
// is never dropped silently: Writer::send_command retries while the lane is full and tells
// its caller if it stays full.
#pragma once

#include <cstdint>
#include <string_view>

namespace telering {

enum class CommandCode : std::uint16_t {
  OpenBreaker = 1,       // the seed's open_circuit_breaker: OPEN for the wait duration
  CloseBreaker = 2,      // close_circuit_breaker
  ForceOpenBreaker = 3,  // FORCED_OPEN until closed by hand
  DisableBreaker = 4,    // DISABLED: always closed, no rules
  ResetBreaker = 5,      // CLOSED with an empty window
  RegisterStrategy = 6,  // target: error type; severity; context: "<ACTION> [max_retries] [backoff_seconds]"
  RequestReport = 7,     // republish the report page now
  ClearShutdown = 8,     // withdraw a SHUTDOWN request
};
inline constexpr std::uint16_t kMaxCommandCode = 8;

enum class CommandStatus : std::uint8_t {
  Pending = 0,   // not acknowledged (yet)
  Applied = 1,
  Rejected = 2,  // malformed or not applicable (unknown target, bad arguments)
};

[[nodiscard]] constexpr std::string_view to_string(CommandCode c) noexcept {
  switch (c) {
    case CommandCode::OpenBreaker: return "open_breaker";
    case CommandCode::CloseBreaker: return "close_breaker";
    case CommandCode::ForceOpenBreaker: return "force_open_breaker";
    case CommandCode::DisableBreaker: return "disable_breaker";
    case CommandCode::ResetBreaker: return "reset_breaker";
    case CommandCode::RegisterStrategy: return "register_strategy";
    case CommandCode::RequestReport: return "request_report";
    case CommandCode::ClearShutdown: return "clear_shutdown";
  }
  return "invalid";
}

}  // namespace telering
