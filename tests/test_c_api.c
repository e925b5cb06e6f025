/* test_c_api.c — the C ABI (telering_writer.h) used from a program compiled as C11.
 *
 *   test_c_api offline SEGMENT   no reader: argument checks, error codes and messages, name
 *                                interning, board reads of an empty board, UNKNOWN health,
 *                                then a known set of records the driver checks with
 *                                `telering-reader --once --json` (test_c_api_driver.sh).
 *   test_c_api live SEGMENT      a reader is running: commands are acknowledged, breakers
 *                                open and close, a registered BACKOFF strategy shows on the
 *                                board, the report page is read (truncation contract too).
 *
 * Exit status 0 = every check passed; each failed check prints its line. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "telering/telering_writer.h"

static int g_failures = 0;

#define CHECK(cond)                                                                    \
  do {                                                                                 \
    if (!(cond)) {                                                                     \
      fprintf(stderr, "%s:%d: CHECK failed: %s (last error: '%s')\n", __FILE__,        \
              __LINE__, #cond, telering_last_error());                                 \
      ++g_failures;                                                                    \
    }                                                                                  \
  } while (0)

#define CHECK_EQ_INT(a, b)                                                             \
  do {                                                                                 \
    long long va_ = (long long)(a), vb_ = (long long)(b);                              \
    if (va_ != vb_) {                                                                  \
      fprintf(stderr, "%s:%d: CHECK_EQ failed: %s == %lld, expected %s == %lld\n",      \
              __FILE__, __LINE__, #a, va_, #b, vb_);                                   \
      ++g_failures;                                                                    \
    }                                                                                  \
  } while (0)

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static int recorded(telering_status s) { return s == TELERING_OK || s == TELERING_RECORDED_SHARED; }

static telering_writer* attach(const char* segment) {
  telering_writer_options o;
  telering_writer_options_init(&o);
  CHECK_EQ_INT(o.struct_size, sizeof o);
  o.segment = segment;
  o.bot = "c-test-bot";
  o.sample_memory = 0;
  telering_writer* w = NULL;
  const telering_status s = telering_attach(&o, &w);
  if (s != TELERING_OK || w == NULL) {
    fprintf(stderr, "attach to '%s' failed: %s: %s\n", segment, telering_strerror(s), telering_last_error());
    exit(2);
  }
  return w;
}

/* The shared-group deployment from C: group and mode reach a segment the writer creates, and
 * trust_other_owner lets it attach to one another user owns. */
static void check_group_and_owner_options(const char* segment) {
  char name[200], path[220];
  snprintf(name, sizeof name, "%s-group", segment);
  snprintf(path, sizeof path, "/dev/shm/%s", name);
  telering_writer_options o;
  telering_writer_options_init(&o);
  CHECK(o.group == NULL && o.trust_other_owner == 0);
  o.segment = name;
  o.sample_memory = 0;
  o.mode = 0640;
  o.group = "no-such-group-xyz";
  telering_writer* w = NULL;
  CHECK_EQ_INT(telering_attach(&o, &w), TELERING_E_ATTACH);
  CHECK(strstr(telering_last_error(), "unknown group 'no-such-group-xyz'") != NULL);
  unlink(path); /* a failed start may leave an empty object (issue 12 item 9) */
  o.group = "root";
  CHECK_EQ_INT(telering_attach(&o, &w), TELERING_OK);
  struct stat st;
  CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0640 && st.st_gid == 0);
  telering_detach(w);
  if (geteuid() == 0) {
    CHECK(chown(path, 12345, (gid_t)-1) == 0);
    o.group = NULL;
    w = NULL;
    CHECK_EQ_INT(telering_attach(&o, &w), TELERING_E_ATTACH);
    CHECK(strstr(telering_last_error(), "owned by uid 12345") != NULL);
    o.trust_other_owner = 1;
    CHECK_EQ_INT(telering_attach(&o, &w), TELERING_OK);
    telering_detach(w);
  }
  unlink(path);
}

static void check_errors_and_arguments(const char* segment) {
  /* Attach failures: a status, a NULL writer and a message; never an exception. */
  telering_writer* w = (telering_writer*)1;
  CHECK_EQ_INT(telering_attach(NULL, NULL), TELERING_E_INVALID_ARGUMENT);
  CHECK(strstr(telering_last_error(), "out is NULL") != NULL);

  telering_writer_options bad;
  memset(&bad, 0, sizeof bad); /* struct_size not set */
  CHECK_EQ_INT(telering_attach(&bad, &w), TELERING_E_INVALID_ARGUMENT);
  CHECK(w == NULL);
  CHECK(strstr(telering_last_error(), "telering_writer_options_init") != NULL);

  /* An existing segment with another geometry cannot be created again: the writer attaches
   * to it as it is. A name with a '/' is refused by the OS: E_ATTACH with a message. */
  telering_writer_options o;
  telering_writer_options_init(&o);
  o.segment = "no/such/dir/segment";
  o.sample_memory = 0;
  w = (telering_writer*)1;
  const telering_status s = telering_attach(&o, &w);
  CHECK_EQ_INT(s, TELERING_E_ATTACH);
  CHECK(w == NULL);
  CHECK(strlen(telering_last_error()) > 0);

  o.segment = "";
  CHECK_EQ_INT(telering_attach(&o, &w), TELERING_E_INVALID_ARGUMENT);
  CHECK(strstr(telering_last_error(), "empty segment") != NULL);

  check_group_and_owner_options(segment);

  /* Every code has a description. */
  CHECK(strcmp(telering_strerror(TELERING_OK), "ok") == 0);
  CHECK(strstr(telering_strerror(TELERING_E_ATTACH), "attach") != NULL);
  CHECK(strstr(telering_strerror(TELERING_DROPPED), "dropped") != NULL);
  CHECK(strstr(telering_strerror(12345), "unknown") != NULL);

  /* NULL writers are refused, not dereferenced. */
  CHECK_EQ_INT(telering_scan_time(NULL, 1.0), TELERING_E_INVALID_ARGUMENT);
  CHECK_EQ_INT(telering_error(NULL, "x", TELERING_SEVERITY_LOW, NULL, NULL), TELERING_E_INVALID_ARGUMENT);
  CHECK_EQ_INT(telering_breaker_open(NULL, "x"), 0);
  CHECK_EQ_INT(telering_overall_health(NULL), TELERING_HEALTH_UNKNOWN);
  CHECK_EQ_INT(telering_run_full_health_check(NULL, NULL, 0), TELERING_E_INVALID_ARGUMENT);
  telering_detach(NULL);
}

static int offline(const char* segment) {
  check_errors_and_arguments(segment);
  telering_writer* w = attach(segment);

  /* Interning: idempotent, per kind, 0 for empty names. */
  const telering_name_id scanner = telering_intern(w, TELERING_NAME_COMPONENT, "market_scanner");
  CHECK(scanner != TELERING_NO_NAME_ID);
  CHECK_EQ_INT(telering_intern(w, TELERING_NAME_COMPONENT, "market_scanner"), scanner);
  const telering_name_id scanner_as_type = telering_intern(w, TELERING_NAME_ERROR_TYPE, "market_scanner");
  CHECK(scanner_as_type != TELERING_NO_NAME_ID && scanner_as_type != scanner);
  CHECK_EQ_INT(telering_intern(w, TELERING_NAME_COMPONENT, ""), TELERING_NO_NAME_ID);
  CHECK_EQ_INT(telering_intern(w, (telering_name_kind)99, "x"), TELERING_NO_NAME_ID);
  CHECK(telering_bot_id(w) != TELERING_NO_NAME_ID);

  /* Bad values are refused before they reach the ring (the reader would count them malformed). */
  CHECK_EQ_INT(telering_scan_time(w, -1.0), TELERING_E_INVALID_ARGUMENT);
  CHECK_EQ_INT(telering_api_call(w, NAN, NULL), TELERING_E_INVALID_ARGUMENT);
  CHECK_EQ_INT(telering_error(w, "x", (telering_severity)0, NULL, NULL), TELERING_E_INVALID_ARGUMENT);
  CHECK_EQ_INT(telering_error(w, "x", (telering_severity)9, NULL, NULL), TELERING_E_INVALID_ARGUMENT);
  CHECK_EQ_INT(telering_error(w, "", TELERING_SEVERITY_LOW, NULL, NULL), TELERING_NO_NAME);
  CHECK_EQ_INT(telering_error_id(w, TELERING_NO_NAME_ID, TELERING_SEVERITY_LOW, NULL, TELERING_NO_NAME_ID), TELERING_NO_NAME);

  /* An empty board and no reader: everything closed, nothing in force, health UNKNOWN. */
  CHECK_EQ_INT(telering_breaker_open(w, "market_scanner"), 0);
  CHECK_EQ_INT(telering_breaker_open_id(w, scanner), 0);
  CHECK_EQ_INT(telering_breaker_state_of(w, "market_scanner"), TELERING_BREAKER_CLOSED);
  CHECK_EQ_INT(telering_breaker_state_id(w, scanner), TELERING_BREAKER_CLOSED);
  CHECK_EQ_INT(telering_breaker_open(w, "never_interned"), 0);
  CHECK_EQ_INT(telering_in_backoff(w, "api_rate_limit"), 0);
  CHECK_EQ_INT(telering_backoff_until_ns(w, "api_rate_limit"), 0);
  CHECK_EQ_INT(telering_should_trigger_recovery(w, "api_rate_limit"), 0);
  CHECK_EQ_INT(telering_reset_epoch(w, "market_scanner"), 0);
  CHECK_EQ_INT(telering_global_reset_epoch(w), 0);
  CHECK_EQ_INT(telering_shutdown_requested(w), 0);
  CHECK_EQ_INT(telering_reader_alive(w, 0), 0);
  CHECK_EQ_INT(telering_overall_health(w), TELERING_HEALTH_UNKNOWN);
  telering_decision d;
  CHECK_EQ_INT(telering_decision_of(w, TELERING_NAME_COMPONENT, "market_scanner", &d), TELERING_OK);
  CHECK_EQ_INT(d.breaker_state, TELERING_BREAKER_CLOSED);
  CHECK_EQ_INT(d.consistent, 1);
  CHECK_EQ_INT(telering_decision_of(w, TELERING_NAME_COMPONENT, "never_interned", &d), TELERING_NO_NAME);
  CHECK(telering_monotonic_ns() > 0);

  /* The report with no reader: UNKNOWN with a reason; the snprintf-like contract. */
  char report[512];
  const int64_t n = telering_run_full_health_check(w, report, sizeof report);
  CHECK(n > 0 && n < (int64_t)sizeof report);
  CHECK(strstr(report, "\"overall_status\":\"UNKNOWN\"") != NULL);
  CHECK(strstr(report, "\"reason\"") != NULL);
  CHECK_EQ_INT((int64_t)strlen(report), n);
  char small[8];
  CHECK_EQ_INT(telering_run_full_health_check(w, small, sizeof small), n);
  CHECK_EQ_INT(strlen(small), sizeof small - 1);
  CHECK(strncmp(small, report, sizeof small - 1) == 0);
  CHECK_EQ_INT(telering_run_full_health_check(w, NULL, 0), n);
  CHECK_EQ_INT(telering_request_report(w, 20), TELERING_PENDING); /* no reader to answer */
  CHECK_EQ_INT(telering_request_report(NULL, 20), TELERING_E_INVALID_ARGUMENT);

  /* A known set of records; the driver checks the reader's totals. */
  CHECK(recorded(telering_scan_time(w, 10.0)));
  CHECK(recorded(telering_scan_time(w, 20.0)));
  CHECK(recorded(telering_scan_time(w, 30.0)));
  CHECK(recorded(telering_api_call(w, 1.0, "orderbook")));
  const telering_name_id ticker = telering_intern(w, TELERING_NAME_ENDPOINT, "ticker");
  CHECK(recorded(telering_api_call_id(w, 3.0, ticker)));
  CHECK(recorded(telering_memory_bytes(w, 100.0 * 1024 * 1024)));
  CHECK(recorded(telering_error(w, "api_rate_limit", TELERING_SEVERITY_MEDIUM, "endpoint=/api/v1/market/orderbook", NULL)));
  const telering_name_id pnf = telering_intern(w, TELERING_NAME_ERROR_TYPE, "position_not_found");
  CHECK(recorded(telering_error_id(w, pnf, TELERING_SEVERITY_HIGH, "symbol=XBTUSDTM", scanner)));
  CHECK(recorded(telering_warning(w, "slow_fill", "fill took 2.5 s")));
  const telering_name_id stale = telering_intern(w, TELERING_NAME_WARNING_TYPE, "stale_ticker");
  CHECK(recorded(telering_warning_id(w, stale, NULL)));
  CHECK(recorded(telering_call_outcome(w, "market_scanner", 1, 0.5)));
  CHECK(recorded(telering_call_outcome_id(w, scanner, 0, 0.7)));
  CHECK(recorded(telering_counter(w, "orders_sent", 2.0)));
  const telering_name_id pnl = telering_intern(w, TELERING_NAME_METRIC, "pnl_usdt");
  CHECK(recorded(telering_counter_id(w, pnl, 1.0)));
  CHECK(recorded(telering_gauge(w, "open_positions", 3.0)));
  CHECK(recorded(telering_gauge_id(w, pnl, 12.5)));
  CHECK(recorded(telering_heartbeat(w)));

  telering_writer_stats st;
  CHECK_EQ_INT(telering_writer_stats_of(w, &st), TELERING_OK);
  CHECK_EQ_INT(st.lanes_claimed, 1);
  CHECK_EQ_INT(st.dropped, 0);
  CHECK(strcmp(telering_version(), "") != 0);

  telering_detach(w);
  return g_failures == 0 ? 0 : 1;
}

static int wait_until_reader_alive(telering_writer* w) {
  for (int i = 0; i < 500; ++i) {
    if (telering_reader_alive(w, 0)) return 1;
    sleep_ms(10);
  }
  return 0;
}

static int live(const char* segment) {
  telering_writer* w = attach(segment);
  CHECK(wait_until_reader_alive(w));

  /* Breakers by hand: acknowledged by the reader, visible on the board right after. */
  CHECK_EQ_INT(telering_open_circuit_breaker(w, "market_scanner", 3000), TELERING_OK);
  CHECK_EQ_INT(telering_breaker_open(w, "market_scanner"), 1);
  CHECK_EQ_INT(telering_breaker_state_of(w, "market_scanner"), TELERING_BREAKER_OPEN);
  const telering_name_id scanner = telering_intern(w, TELERING_NAME_COMPONENT, "market_scanner");
  CHECK_EQ_INT(telering_breaker_open_id(w, scanner), 1);
  CHECK_EQ_INT(telering_close_circuit_breaker(w, "market_scanner", 3000), TELERING_OK);
  CHECK_EQ_INT(telering_breaker_open(w, "market_scanner"), 0);
  CHECK_EQ_INT(telering_breaker_state_id(w, scanner), TELERING_BREAKER_CLOSED);
  CHECK_EQ_INT(telering_open_circuit_breaker(w, "", 10), TELERING_E_INVALID_ARGUMENT);

  /* A strategy registered from C decides the next error of that type. */
  CHECK_EQ_INT(telering_register_recovery_strategy(w, "c_custom_error", TELERING_SEVERITY_MEDIUM, TELERING_ACTION_BACKOFF,
                                                   3, 30.0, 3000),
               TELERING_OK);
  CHECK_EQ_INT(telering_register_recovery_strategy(w, "c_custom_error", TELERING_SEVERITY_MEDIUM,
                                                   (telering_recovery_action)0, 3, 1.0, 10),
               TELERING_E_INVALID_ARGUMENT);
  CHECK(strstr(telering_last_error(), "RETRY..SHUTDOWN") != NULL);
  CHECK(recorded(telering_error(w, "c_custom_error", TELERING_SEVERITY_MEDIUM, "from C", "market_scanner")));
  int backing_off = 0;
  for (int i = 0; i < 300 && !backing_off; ++i) {
    backing_off = telering_in_backoff(w, "c_custom_error");
    if (!backing_off) sleep_ms(10);
  }
  CHECK(backing_off);
  const uint64_t now = telering_monotonic_ns();
  const uint64_t until = telering_backoff_until_ns(w, "c_custom_error");
  CHECK(until > now + 20ULL * 1000000000ULL && until < now + 31ULL * 1000000000ULL);
  CHECK_EQ_INT(telering_should_trigger_recovery(w, "c_custom_error"), 1);
  telering_decision d;
  CHECK_EQ_INT(telering_decision_of(w, TELERING_NAME_ERROR_TYPE, "c_custom_error", &d), TELERING_OK);
  CHECK_EQ_INT(d.last_action, TELERING_ACTION_BACKOFF);
  CHECK_EQ_INT(d.backoff_until_ns, until);
  CHECK(d.decision_seq > 0);

  /* The report page: published by the reader at least every second, and on request. */
  CHECK(recorded(telering_scan_time(w, 12.0)));
  CHECK_EQ_INT(telering_request_report(w, 3000), TELERING_OK);
  char* report = NULL;
  int64_t n = 0;
  for (int i = 0; i < 300; ++i) {
    n = telering_run_full_health_check(w, NULL, 0);
    CHECK(n > 0);
    free(report);
    report = malloc((size_t)n + 1);
    CHECK(report != NULL);
    if (!report) break;
    const int64_t again = telering_run_full_health_check(w, report, (size_t)n + 1);
    if (again <= n && strstr(report, "\"UNKNOWN\"") == NULL && strstr(report, "c_custom_error") != NULL) break;
    sleep_ms(10);
  }
  CHECK(report != NULL && strstr(report, "\"overall_status\":\"HEALTHY\"") != NULL);
  CHECK(report != NULL && strstr(report, "\"error_statistics\"") != NULL);
  CHECK(report != NULL && strstr(report, "\"c_custom_error\":1") != NULL);
  CHECK(report != NULL && strstr(report, "\"c-test-bot\"") != NULL);
  free(report);
  CHECK_EQ_INT(telering_overall_health(w), TELERING_HEALTH_HEALTHY);
  CHECK_EQ_INT(telering_shutdown_requested(w), 0);

  telering_detach(w);
  return g_failures == 0 ? 0 : 1;
}

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s offline|live SEGMENT\n", argv[0]);
    return 2;
  }
  const int rc = strcmp(argv[1], "offline") == 0 ? offline(argv[2]) : strcmp(argv[1], "live") == 0 ? live(argv[2]) : 2;
  if (g_failures) fprintf(stderr, "%d check(s) failed\n", g_failures);
  else if (rc == 0) printf("test_c_api %s: all checks passed\n", argv[1]);
  return rc;
}
