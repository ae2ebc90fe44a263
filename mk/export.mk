# mk/export.mk -- the blocklist as a response policy zone ("resguardctl
# feeds export --rpz", src/export.c in librgcore): the unit test, which
# reads every export back with ldns, and the system test, which loads one
# into Unbound and asks it with dig.
if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_export
tests_unit_test_export_SOURCES = tests/unit/test_export.c
tests_unit_test_export_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_export_LDADD = librgcore.a $(DEPS_LIBS) $(CMOCKA_LIBS)
TESTS += tests/unit/test_export
endif
TESTS += tests/system/export.sh
EXTRA_DIST += tests/system/export.sh
