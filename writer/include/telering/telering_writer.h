/* telering/telering_writer.h — the telering writer for bots written in C, or in any language
 * with a C FFI (the Python module in writer/python/telering is ctypes over this header).
 *
 * Pure C (C99 and later), no C++ types. Link libtelering.so (CMake: telering::writer_shared;
 * pkg-config: telering). Every function is a thin wrapper over telering::Writer
 * (writer.hpp); no C++ exception ever crosses this boundary: every call catches at the
 * boundary and turns failures into a telering_status plus a message for
 * telering_last_error().
 *
 * Contract (same as the C++ Writer):
 *  - One telering_writer per process per segment, shared by all of the bot's threads; at
 *    most 8 per process. telering_detach() must come after the last call of every thread.
 *  - Recording calls (telering_scan_time ... telering_heartbeat) may be called from any
 *    thread and never block, lock, allocate or make a syscall once the thread has its lane
 *    and the names it uses are interned. A thread's first record claims it a lane; the lane
 *    is released when the thread exits. When the lane is full the record is dropped and
 *    counted (TELERING_DROPPED): recording never waits for the reader.
 *  - The by-name variants intern the name on first use (bounded, off the steady state);
 *    on the hottest paths intern once with telering_intern() and use the *_id variants.
 *  - Board reads (breaker_open, in_backoff, reset_epoch, shutdown_requested, ...) are one
 *    acquire load each, no syscall.
 *  - Commands (open/close_circuit_breaker, register_recovery_strategy) travel to the reader
 *    in this thread's lane and wait, bounded by wait_ms, for its acknowledgement.
 *  - Strings are NUL-terminated UTF-8. A NULL string means "none" where noted.
 *  - Error codes: recording calls return their outcome and never touch telering_last_error()
 *    (they stay allocation-free); the other calls set it when they fail.
 *
 * Memory ordering: a board read that observes a decision also observes everything the
 * reader wrote before publishing it (acquire loads paired with the reader's release stores). */
#ifndef TELERING_TELERING_WRITER_H
#define TELERING_TELERING_WRITER_H

#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__) || defined(__clang__)
#define TELERING_API __attribute__((visibility("default")))
#else
#define TELERING_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Version of this ABI. Bumped when a function changes signature (functions are only added). */
#define TELERING_C_ABI_VERSION 1

typedef struct telering_writer telering_writer;

/* An interned name (component, error type, endpoint, metric, ...). 0 = no name. */
typedef uint16_t telering_name_id;
#define TELERING_NO_NAME_ID ((telering_name_id)0)

/* Outcome of a call. >= 0: the call did its job (the value says how); < 0: it failed. */
typedef enum telering_status {
  TELERING_OK = 0,                  /* recorded in this thread's own lane / done / applied */
  TELERING_RECORDED_SHARED = 1,     /* recorded in the shared lane (no free lane for the thread) */
  TELERING_DROPPED = 2,             /* lane full: dropped and counted in the lane (not an error) */
  TELERING_NO_NAME = 3,             /* empty name, or the name table is full: nothing recorded */
  TELERING_PENDING = 4,             /* command queued; no reader acknowledged it within wait_ms */
  TELERING_E_INVALID_ARGUMENT = -1, /* NULL writer/pointer, bad enum value, negative duration, ... */
  TELERING_E_ATTACH = -2,           /* the segment cannot be opened, created or validated */
  TELERING_E_REJECTED = -3,         /* the reader refused the command, or the lane stayed full */
  TELERING_E_NO_MEMORY = -4,
  TELERING_E_INTERNAL = -5          /* an unexpected C++ exception, caught at the boundary */
} telering_status;

/* The seed's ErrorSeverity. */
typedef enum telering_severity {
  TELERING_SEVERITY_LOW = 1,
  TELERING_SEVERITY_MEDIUM = 2,
  TELERING_SEVERITY_HIGH = 3,
  TELERING_SEVERITY_CRITICAL = 4
} telering_severity;

/* The seed's RecoveryAction, as the reader publishes it for an error type. */
typedef enum telering_recovery_action {
  TELERING_ACTION_NONE = 0,
  TELERING_ACTION_RETRY = 1,
  TELERING_ACTION_BACKOFF = 2,
  TELERING_ACTION_RESET = 3,
  TELERING_ACTION_ALERT = 4,
  TELERING_ACTION_SHUTDOWN = 5
} telering_recovery_action;

/* Circuit-breaker states (resilience4j's). OPEN and FORCED_OPEN mean "do not call". */
typedef enum telering_breaker_state {
  TELERING_BREAKER_CLOSED = 0,
  TELERING_BREAKER_OPEN = 1,
  TELERING_BREAKER_HALF_OPEN = 2,
  TELERING_BREAKER_FORCED_OPEN = 3,
  TELERING_BREAKER_DISABLED = 4
} telering_breaker_state;

/* UNKNOWN: no live reader (stale heartbeat) or no data — never a stale HEALTHY. */
typedef enum telering_health {
  TELERING_HEALTH_UNKNOWN = 0,
  TELERING_HEALTH_HEALTHY = 1,
  TELERING_HEALTH_WARNING = 2,
  TELERING_HEALTH_CRITICAL = 3
} telering_health;

typedef enum telering_name_kind {
  TELERING_NAME_BOT = 1,
  TELERING_NAME_COMPONENT = 2,
  TELERING_NAME_ERROR_TYPE = 3,
  TELERING_NAME_WARNING_TYPE = 4,
  TELERING_NAME_ENDPOINT = 5,
  TELERING_NAME_METRIC = 6,
  TELERING_NAME_RATE_GROUP = 7
} telering_name_kind;

/* Attach options. Fill with telering_writer_options_init() first, then set what you need;
 * a zero field means "the default". struct_size lets the struct grow compatibly. */
typedef struct telering_writer_options {
  uint32_t struct_size;          /* sizeof(telering_writer_options), set by _init */
  const char* segment;           /* segment name (/dev/shm/NAME); NULL = "telering" */
  const char* bot;               /* this bot instance's name; NULL = "bot" */
  uint32_t mode;                 /* permissions if this writer creates the segment; 0 = 0600 */
  int sample_memory;             /* 1: run the RSS sampler thread used by telering_memory() */
  uint32_t memory_interval_ms;   /* sampler period; 0 = 1000 */
  /* Geometry, used only if this writer creates the segment; 0 = default. */
  uint32_t lane_count;           /* default 64 */
  uint32_t lane_capacity;        /* records per lane, power of two; default 2048 */
  uint32_t mpsc_capacity;        /* shared-lane records, power of two; default 8192 */
  uint32_t name_capacity;        /* names, power of two; default 4096 */
  /* Sharing a segment between users (telering-reader --mode 0660 --group NAME). Added in
   * ABI 1 after the fields above; struct_size tells an older caller's struct from ours. */
  const char* group;             /* group of a segment this writer creates; NULL = the creator's */
  int trust_other_owner;         /* 1: attach to a segment another user created (refused by default) */
} telering_writer_options;

/* A consistent view of the board entry of one name (the reader's latest decision for it). */
typedef struct telering_decision {
  telering_breaker_state breaker_state;
  telering_health health;
  telering_recovery_action last_action;
  uint32_t retry_permits;        /* retries the bot may still make */
  uint64_t backoff_until_ns;     /* CLOCK_MONOTONIC ns; 0 = none (compare telering_monotonic_ns) */
  uint64_t reset_epoch;
  uint64_t decision_seq;         /* the board's decision sequence at the last change */
  int consistent;                /* 0: the reader kept updating it; fields may be mixed */
} telering_decision;

typedef struct telering_writer_stats {
  uint64_t lanes_claimed;        /* lanes this writer's threads hold now */
  uint64_t dropped;              /* drops in those lanes */
} telering_writer_stats;

/* ---- Errors ---------------------------------------------------------------------------- */

/* Message of the last failing non-recording call on this thread ("" if none). Valid until
 * the next telering call on this thread. */
TELERING_API const char* telering_last_error(void);
/* Static description of a status code; never NULL. */
TELERING_API const char* telering_strerror(int code);

/* ---- Attach / detach ------------------------------------------------------------------- */

TELERING_API void telering_writer_options_init(telering_writer_options* options);
/* Opens or creates the segment. On success *out is the writer and TELERING_OK is returned;
 * on failure *out is NULL and telering_last_error() says why (e.g. a layout mismatch names
 * both values). options may be NULL (all defaults). */
TELERING_API telering_status telering_attach(const telering_writer_options* options, telering_writer** out);
/* Releases the lanes this writer's threads claimed. NULL is allowed. */
TELERING_API void telering_detach(telering_writer* writer);

/* ---- Names ----------------------------------------------------------------------------- */

/* Interns a name (idempotent: the same text and kind always give the same id, in every
 * process on the segment). TELERING_NO_NAME_ID when empty, too long for the table, or full. */
TELERING_API telering_name_id telering_intern(telering_writer* writer, telering_name_kind kind, const char* name);
TELERING_API telering_name_id telering_bot_id(const telering_writer* writer);

/* ---- Recording (hot path) -------------------------------------------------------------- */

/* The seed's record_scan_time: a scan took `seconds`. */
TELERING_API telering_status telering_scan_time(telering_writer* writer, double seconds);
/* The seed's record_api_call: latency in seconds; endpoint may be NULL. */
TELERING_API telering_status telering_api_call(telering_writer* writer, double seconds, const char* endpoint);
TELERING_API telering_status telering_api_call_id(telering_writer* writer, double seconds, telering_name_id endpoint);
/* The seed's update_memory_usage: the sampler's latest RSS of this process. */
TELERING_API telering_status telering_memory(telering_writer* writer);
TELERING_API telering_status telering_memory_bytes(telering_writer* writer, double bytes);
/* The seed's record_error. context (truncated to 34 bytes with a flag) and component may be NULL. */
TELERING_API telering_status telering_error(telering_writer* writer, const char* error_type, telering_severity severity,
                                            const char* context, const char* component);
TELERING_API telering_status telering_error_id(telering_writer* writer, telering_name_id error_type,
                                               telering_severity severity, const char* context,
                                               telering_name_id component);
TELERING_API telering_status telering_warning(telering_writer* writer, const char* warning_type, const char* context);
TELERING_API telering_status telering_warning_id(telering_writer* writer, telering_name_id warning_type, const char* context);
/* Success (non-zero) or failure (0) of a call guarded by the component's circuit breaker. */
TELERING_API telering_status telering_call_outcome(telering_writer* writer, const char* component, int success,
                                                   double seconds);
TELERING_API telering_status telering_call_outcome_id(telering_writer* writer, telering_name_id component, int success,
                                                      double seconds);
TELERING_API telering_status telering_counter(telering_writer* writer, const char* metric, double increment);
TELERING_API telering_status telering_counter_id(telering_writer* writer, telering_name_id metric, double increment);
TELERING_API telering_status telering_gauge(telering_writer* writer, const char* metric, double value);
TELERING_API telering_status telering_gauge_id(telering_writer* writer, telering_name_id metric, double value);
TELERING_API telering_status telering_heartbeat(telering_writer* writer);

/* ---- Decisions (one acquire load each; 0 / CLOSED for a name never interned) ----------- */

TELERING_API int telering_breaker_open(const telering_writer* writer, const char* component);
TELERING_API int telering_breaker_open_id(const telering_writer* writer, telering_name_id component);
TELERING_API telering_breaker_state telering_breaker_state_of(const telering_writer* writer, const char* component);
TELERING_API telering_breaker_state telering_breaker_state_id(const telering_writer* writer, telering_name_id component);
TELERING_API int telering_in_backoff(const telering_writer* writer, const char* error_type);
TELERING_API int telering_in_backoff_id(const telering_writer* writer, telering_name_id error_type);
/* CLOCK_MONOTONIC ns until which the reader asks bots to back off this error type (0 = none). */
TELERING_API uint64_t telering_backoff_until_ns(const telering_writer* writer, const char* error_type);
/* Bumped by every RESET decision for this component or error type. */
TELERING_API uint64_t telering_reset_epoch(const telering_writer* writer, const char* component_or_error_type);
TELERING_API uint64_t telering_global_reset_epoch(const telering_writer* writer);
TELERING_API int telering_shutdown_requested(const telering_writer* writer);
/* 1 when the reader's heartbeat is fresher than max_age_ms (0 = the default 2000 ms). */
TELERING_API int telering_reader_alive(const telering_writer* writer, uint32_t max_age_ms);
TELERING_API telering_health telering_overall_health(const telering_writer* writer);
/* The whole board entry of a name (seqlock read). TELERING_NO_NAME if never interned. */
TELERING_API telering_status telering_decision_of(const telering_writer* writer, telering_name_kind kind,
                                                  const char* name, telering_decision* out);
/* CLOCK_MONOTONIC in ns: the clock backoff_until_ns is on. */
TELERING_API uint64_t telering_monotonic_ns(void);

/* ---- The seed's ErrorRecoveryManager, carried out by the reader (off the hot path) ------ */

/* Each returns TELERING_OK once the reader applied it, TELERING_PENDING when no reader
 * answered within wait_ms (the command stays queued and is applied when a reader drains
 * it), TELERING_E_REJECTED when the reader refused it or the lane stayed full. */
TELERING_API telering_status telering_open_circuit_breaker(telering_writer* writer, const char* component, uint32_t wait_ms);
TELERING_API telering_status telering_close_circuit_breaker(telering_writer* writer, const char* component, uint32_t wait_ms);
/* register_recovery_strategy('custom_error_type', MEDIUM, RETRY, max_retries=5);
 * backoff_seconds is BACKOFF's wait (0 = the reader's default). */
TELERING_API telering_status telering_register_recovery_strategy(telering_writer* writer, const char* error_type,
                                                                 telering_severity severity,
                                                                 telering_recovery_action action, uint32_t max_retries,
                                                                 double backoff_seconds, uint32_t wait_ms);
/* 1 while the reader's latest decision for this error type is in force (a backoff not yet
 * over, retries granted, or a RESET/ALERT/SHUTDOWN decision). */
TELERING_API int telering_should_trigger_recovery(const telering_writer* writer, const char* error_type);
/* The reader's latest report as JSON: the seed's run_full_health_check() result plus
 * "error_statistics" (get_error_statistics()), "bots", "breakers", "shutdown_requested".
 * With no live reader: {"overall_status":"UNKNOWN","reason":"..."}.
 * Like snprintf: copies at most capacity-1 bytes and a NUL into buffer (buffer may be NULL
 * when capacity is 0) and returns the full length of the JSON, without the NUL; a return
 * >= capacity means it was cut — call again with return+1 bytes. < 0: a telering_status. */
/* Asks the reader to republish the report page now (the seed's run_full_health_check() is a
 * fresh check; the page is otherwise republished every second) and waits, bounded by
 * wait_ms, until a report computed after every record this thread made before the call is
 * on the page. TELERING_OK, or TELERING_PENDING when no reader answered in time. */
TELERING_API telering_status telering_request_report(telering_writer* writer, uint32_t wait_ms);
TELERING_API int64_t telering_run_full_health_check(const telering_writer* writer, char* buffer, size_t capacity);

TELERING_API telering_status telering_writer_stats_of(const telering_writer* writer, telering_writer_stats* out);
/* "0.1.0" */
TELERING_API const char* telering_version(void);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* TELERING_TELERING_WRITER_H */
