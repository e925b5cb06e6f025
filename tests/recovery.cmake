telering_add_test(test_backoff SOURCES test_backoff.cpp LIBS telering::core)
telering_add_test(test_breaker SOURCES test_breaker.cpp LIBS telering_recovery)
telering_add_test(test_recovery SOURCES test_recovery.cpp LIBS telering_recovery)
