/* Arm semihosting: the debugger or emulator (here QEMU with
 * -semihosting-config enable=on) carries out the request of a BKPT 0xAB. */
#ifndef SEMIHOSTING_H
#define SEMIHOSTING_H

/* Writes a NUL-terminated string to the host's standard output. */
void sh_write0(const char *s);
/* Ends the program: QEMU exits with status 0 when `code` is 0, else 1. */
void sh_exit(int code) __attribute__((noreturn));

#endif
