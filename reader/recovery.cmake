add_library(telering_recovery STATIC src/breaker.cpp src/recovery.cpp)
target_include_directories(telering_recovery PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/include)
target_link_libraries(telering_recovery PUBLIC telering::core)
telering_warnings(telering_recovery)
