/* Says which machine it runs on (uname(2), as the kernel or qemu-user reports it) and which one
   compiled it (BUILT_ON, passed in by the Dockerfile). */
#include <stdio.h>
#include <sys/utsname.h>

#ifndef BUILT_ON
#define BUILT_ON "unknown"
#endif

int main(void) {
  struct utsname name;
  if (uname(&name) != 0) {
    perror("uname");
    return 1;
  }
  printf("hello from %s, compiled on %s\n", name.machine, BUILT_ON);
  return 0;
}
