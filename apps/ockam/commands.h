/* The subcommands of `ockam`, one line each: OCKAM_COMMAND(name, help).
 * cmd_<name>.c defines `int ockam_cmd_<name>(int argc, char **argv)` (argv[0]
 * is the subcommand name; returns the exit status). Included by main.c and
 * cli.h with OCKAM_COMMAND defined; no include guard on purpose. */
OCKAM_COMMAND(hub, "run a hub (echo, forwarding and stream services)")
OCKAM_COMMAND(identity, "create, show, rotate or export an identity (--help)")
OCKAM_COMMAND(stream, "create, push to, tail, subscribe to or delete a stream (--help)")
OCKAM_COMMAND(send, "send a string along a route and print the reply")
OCKAM_COMMAND(version, "print the version")
