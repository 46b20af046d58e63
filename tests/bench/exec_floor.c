// exec_window's floor: a static program whose main() blocks SIGHUP first,
// as baton's does. Nothing to load or relocate: exec to main and no more.
#include <signal.h>

int main(void) {
  sigset_t hup;
  sigemptyset(&hup);
  sigaddset(&hup, SIGHUP);
  sigprocmask(SIG_BLOCK, &hup, 0);
  return 0;
}
