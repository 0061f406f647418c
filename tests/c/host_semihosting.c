/* The firmware's output calls on a host: standard output and exit. */
#include <stdio.h>
#include <stdlib.h>

void sh_write0(const char *s);
void sh_exit(int code);

void sh_write0(const char *s) { fputs(s, stdout); }

void sh_exit(int code) {
    fflush(stdout);
    exit(code);
}
