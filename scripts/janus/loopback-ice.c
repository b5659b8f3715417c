/* Loaded into Janus only (LD_PRELOAD, by scripts/janus/run.sh): Janus's ICE gathering skips
 * interfaces flagged IFF_LOOPBACK, so on a machine measured over loopback alone it offers no
 * candidate at all. This clears the flag on what getifaddrs() returns and changes nothing
 * else; packets still go through the kernel's loopback device as they do for our server. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <ifaddrs.h>
#include <net/if.h>

int getifaddrs(struct ifaddrs **list) {
    static int (*real)(struct ifaddrs **);
    if (!real)
        real = (int (*)(struct ifaddrs **))dlsym(RTLD_NEXT, "getifaddrs");
    int rc = real(list);
    if (rc == 0)
        for (struct ifaddrs *i = *list; i; i = i->ifa_next)
            i->ifa_flags &= ~IFF_LOOPBACK;
    return rc;
}
