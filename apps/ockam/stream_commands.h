/* The subcommands of `ockam stream`, one line each:
 * OCKAM_STREAM_COMMAND(name, help). A cmd_stream*.c file defines
 * `int ockam_stream_cmd_<name>(int argc, char **argv)` (argv[0] is the
 * subcommand name; returns the exit status). Included by cmd_stream.c and
 * stream_cli.h with OCKAM_STREAM_COMMAND defined; no include guard on
 * purpose. */
OCKAM_STREAM_COMMAND(create, "create a stream (an existing one is kept)")
OCKAM_STREAM_COMMAND(push, "push messages: one argument, or stdin lines")
OCKAM_STREAM_COMMAND(tail, "print a stream's messages; --follow waits for new ones")
OCKAM_STREAM_COMMAND(sub, "consume as --client-id ID, resuming where it stopped")
OCKAM_STREAM_COMMAND(delete, "delete a stream with its messages and indexes")
OCKAM_STREAM_COMMAND(ls, "list the hub's streams: counts, bytes, consumers, lag")
OCKAM_STREAM_COMMAND(info, "one stream: counts, first/last index, consumers and lag")
