# mk/push.mk -- the push endpoint of the HTTP listener: a server with a
# callback that records what hubs push, driven by tests/system/push.sh.
check_PROGRAMS += tests/system/push-server
tests_system_push_server_SOURCES = tests/system/push-server.c
tests_system_push_server_LDADD = librgcore.a $(DEPS_LIBS)
