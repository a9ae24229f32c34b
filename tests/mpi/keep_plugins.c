/* keep_plugins.c — an LD_PRELOAD library for the mpi tests in a sanitizer
 * build: dlclose does nothing, so Open MPI's plugins stay mapped until exit
 * and LeakSanitizer can name them in the stacks of the allocations they keep
 * on purpose (tests/mpi/lsan_openmpi.supp suppresses those by library name).
 * An unloaded plugin would show as "<unknown module>" and match nothing. */
int dlclose(void *handle);

int dlclose(void *handle)
{
    (void)handle;
    return 0;
}
