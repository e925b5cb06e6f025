/* Records a warning and a scan time through the installed C ABI (libtelering.so). Built
 * twice by run_install_test.sh: by CMake (telering::writer_shared) and with pkg-config. */
#include <stdio.h>

#include "telering/telering_writer.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s SEGMENT BOT\n", argv[0]);
    return 2;
  }
  telering_writer_options o;
  telering_writer_options_init(&o);
  o.segment = argv[1];
  o.bot = argv[2];
  o.sample_memory = 0;
  telering_writer* w = NULL;
  if (telering_attach(&o, &w) != TELERING_OK) {
    fprintf(stderr, "c_consumer: %s\n", telering_last_error());
    return 1;
  }
  const int ok = telering_warning(w, "install_warning", argv[2]) == TELERING_OK && telering_scan_time(w, 27.5) == TELERING_OK;
  printf("c_consumer %s (libtelering %s): recorded=%d\n", argv[2], telering_version(), ok);
  telering_detach(w);
  return ok ? 0 : 1;
}
