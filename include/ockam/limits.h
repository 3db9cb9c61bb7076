/* Every size, depth and count limit of ockam-c in one place.
 *
 * Decoders check these before allocating. Values marked "default" are the
 * defaults of runtime options (struct fields or hub flags) that an operator
 * may change; the others are hard protocol limits.
 */
#ifndef OCKAM_LIMITS_H
#define OCKAM_LIMITS_H

/* --- wire ------------------------------------------------------------- */
/* TCP frames carry a u16 big-endian length (spec §2.1). */
#define OCKAM_FRAME_MAX 65535u
/* A BARE uint never takes more than 10 bytes (LEB128 of a u64). */
#define OCKAM_VARINT_MAX_BYTES 10u
/* Address value bytes (hostname:port fits). */
#define OCKAM_ADDRESS_MAX_LEN 255u
/* Hops in one route (onward or return). */
#define OCKAM_ROUTE_MAX_HOPS 64u
/* Payload bytes of one TransportMessage (bounded by the frame). */
#define OCKAM_PAYLOAD_MAX OCKAM_FRAME_MAX
/* Stream protocol: messages in one PullResponse / pull limit accepted by the hub. */
#define OCKAM_PULL_LIMIT_MAX 1024u
/* Stream and client-id name bytes. */
#define OCKAM_NAME_MAX 255u

/* --- node ------------------------------------------------------------- */
/* Addresses one worker may register. */
#define OCKAM_WORKER_MAX_ADDRESSES 8u
/* Default: messages waiting for delivery in one node before transports pause reading. */
#define OCKAM_NODE_QUEUE_HIGH_WATER 65536u
/* Addresses of recently stopped workers a node remembers, so that a message
 * to one of them (a reply to a client that just disconnected) is logged at
 * DEBUG rather than WARN. */
#define OCKAM_NODE_GONE_ADDRESSES 64u
/* Freed messages each thread keeps for reuse, the buffer bytes they may hold,
 * and the largest buffer kept (larger ones are freed). Under AddressSanitizer
 * nothing is kept. Enough for a producer's unconfirmed pushes and a group
 * commit's confirms (thousands of messages freed at once): with 512, a
 * one-producer push spent a fifth of its time in malloc's slow path. A
 * thread starts with none; after a burst it keeps at most these. */
#define OCKAM_MESSAGE_CACHE_MAX 4096u
#define OCKAM_MESSAGE_CACHE_BYTES (8192u * 1024u)
#define OCKAM_MESSAGE_CACHE_BUF_MAX 131072u
/* Default: messages buffered in a blocking-API mailbox. */
#define OCKAM_MAILBOX_DEPTH 4096u

/* --- TCP transport ------------------------------------------------------ */
/* Default: bytes queued for one connection before further frames are refused:
 * room for OCKAM_STREAM_IN_FLIGHT_MAX pushes of 16 producers sharing one
 * connection (all connections together stay within OCKAM_TCP_OUTPUT_BUDGET). */
#define OCKAM_TCP_SEND_QUEUE_BYTES (8u * 1024u * 1024u)
/* Bytes handed to one write() call: larger loopback writes measured slower. */
#define OCKAM_TCP_WRITE_CHUNK 64000u
/* Default: accepted connections a listener keeps at once. */
#define OCKAM_TCP_MAX_CONNECTIONS 10000u
/* Default: connections the kernel may queue for a listener before they are
 * accepted (listen(2) backlog; the kernel also caps it at somaxconn). */
#define OCKAM_TCP_LISTEN_BACKLOG 1024u
/* Reconnect backoff of outgoing connections (milliseconds): doubles from the
 * minimum up to the cap, each delay jittered down to half its value. The cap
 * bounds how long after a peer is reachable again a client is back. */
#define OCKAM_TCP_BACKOFF_MIN_MS 50u
#define OCKAM_TCP_BACKOFF_MAX_MS 1000u
/* Liveness of outgoing connections (milliseconds): after PING_IDLE without a
 * byte from the peer a ping (spec §3, control message 00) is sent; a peer that
 * has answered pings before and then stays silent for DEAD_AFTER is taken as
 * dead and the connection is re-opened. */
#define OCKAM_TCP_PING_IDLE_MS 1000u
#define OCKAM_TCP_DEAD_AFTER_MS 5000u
/* TCP keepalive idle time (seconds). */
#define OCKAM_TCP_KEEPALIVE_S 30u
/* Default: an outgoing destination failing this long drops its queued frames
 * (milliseconds). */
#define OCKAM_TCP_GIVE_UP_MS 60000u
/* Default: bytes queued for writing on all connections of a transport
 * together; beyond, frames are dropped and counted. */
#define OCKAM_TCP_OUTPUT_BUDGET (32u * 1024u * 1024u)
/* A connection with this many bytes waiting to be written stops being read
 * until half of them are written (its peer is not reading its replies). */
#define OCKAM_TCP_OUTPUT_PAUSE_BYTES (256u * 1024u)
/* Default: a connection whose queued output makes no progress this long is
 * closed (milliseconds). */
#define OCKAM_TCP_WRITE_STALL_MS 30000u
/* Default: an accepted connection must deliver a complete first frame within
 * this time (milliseconds). */
#define OCKAM_TCP_FIRST_FRAME_MS 10000u
/* Default: an accepted connection that sends no frame this long is closed
 * (milliseconds). */
#define OCKAM_TCP_IDLE_MS 3600000u
/* Default: accepted connections from one IP address at once. */
#define OCKAM_TCP_MAX_PER_IP 1024u
/* Bytes of the read buffer shared by all connections of a transport; a
 * connection keeps its own buffer only for a partial frame. */
#define OCKAM_TCP_READ_BUFFER 65536u
/* Bytes all connections of a transport read in one loop iteration before
 * reading waits for the next one (after the node delivered what came in).
 * Small enough that a node answers what it read (acknowledgements, flow
 * control) while its peer still has data on the way: with 1 MiB a receiver
 * drained a whole window before answering any of it, and both ends of a bulk
 * transfer took turns instead of running at once (half the rate at 16 KiB). */
#define OCKAM_TCP_READ_BURST (128u * 1024u)
/* Messages, and their payload bytes, waiting in the node past which a
 * transport reads no more frames (until half of them are delivered): bounds
 * what frames read from the network, and the replies they cause, hold in the
 * node's queue. */
#define OCKAM_TCP_NODE_QUEUE_PAUSE 4096u
#define OCKAM_TCP_NODE_QUEUE_PAUSE_BYTES (4u * 1024u * 1024u)
/* Bytes all connections of a transport may hold in incomplete frames. Past
 * it the connection whose partial frame is oldest is closed, so peers that
 * start frames and never finish them cannot grow memory with their number. */
#define OCKAM_TCP_PARTIAL_BUDGET (16u * 1024u * 1024u)
/* How long the local address of a closed accepted connection stays known, so
 * late replies to it are dropped quietly (milliseconds), and how many. */
#define OCKAM_TCP_RETIRED_MS 35000u
#define OCKAM_TCP_RETIRED_MAX 4096u

/* --- secure channel ------------------------------------------------------ */
/* Replay window width (messages) on the receive side. */
#define OCKAM_REPLAY_WINDOW 2048u
/* Default: time allowed for a handshake to complete (milliseconds). */
#define OCKAM_HANDSHAKE_TIMEOUT_MS 120000u
/* Default: responder channels the listener keeps in handshake at once. */
#define OCKAM_CHANNEL_MAX_PENDING 1024u
/* Default: messages per key epoch when both ends negotiated rekeying (the
 * agreed value is never below OCKAM_REPLAY_WINDOW), and the age after which a
 * sender moves to a new key anyway (milliseconds). */
#define OCKAM_REKEY_MESSAGES 65536u
#define OCKAM_REKEY_INTERVAL_MS 120000u
/* Key epochs a receiver derives forward for one message before giving up
 * (bounds the work a forged counter can cause). */
#define OCKAM_REKEY_MAX_SKIP 64u
/* Default: time allowed for the identity exchange after XX (milliseconds). */
#define OCKAM_IDENTITY_AUTH_TIMEOUT_MS 120000u
/* Default: identity exchanges an identity listener keeps in progress at once
 * (its XX, then the Contacts); beyond, the oldest is abandoned. */
#define OCKAM_IDENTITY_MAX_PENDING 1024u

/* --- identities ------------------------------------------------------------ */
/* Bytes of one Contact accepted by the decoder (a fresh one is 318 bytes, each
 * rotation adds 316), events in one change history, attributes in one change
 * and bytes of one attribute key or value, public key bytes of one key event
 * (X25519 keys are 32; 2021 BLS credential keys 96), label bytes. */
#define OCKAM_CONTACT_MAX_BYTES 32768u
#define OCKAM_CONTACT_MAX_EVENTS 64u
#define OCKAM_CONTACT_MAX_ATTRIBUTES 16u
#define OCKAM_CONTACT_MAX_ATTRIBUTE_LEN 256u
#define OCKAM_CONTACT_MAX_KEY_LEN 96u
#define OCKAM_CONTACT_MAX_LABEL_LEN 64u

/* --- streams and hub ---------------------------------------------------- */
/* Data bytes of one stream message the stream codec accepts (push, pull
 * reply); the hub stores at most OCKAM_STREAM_STORED_MAX of them. */
#define OCKAM_STREAM_MESSAGE_MAX OCKAM_FRAME_MAX
/* Default: streams one hub serves. */
#define OCKAM_HUB_MAX_STREAMS 100000u
/* Default retention per stream: 0 = unlimited. */
#define OCKAM_RETENTION_MAX_MESSAGES 0u
#define OCKAM_RETENTION_MAX_BYTES 0u
#define OCKAM_RETENTION_MAX_AGE_S 0u
/* Default: longest time the hub holds a long-poll pull (milliseconds). */
#define OCKAM_LONG_POLL_MAX_MS 30000u
/* Bytes of a PullResponse frame kept for routes and wrappers. */
#define OCKAM_STREAM_REPLY_MARGIN 1024u
/* Default and ceiling: bytes of one stored message (hub --max-message),
 * 64511, so that any stored message fits a PullResponse frame. */
#define OCKAM_STREAM_STORED_MAX (OCKAM_FRAME_MAX - OCKAM_STREAM_REPLY_MARGIN)
/* Default: pushes accepted but not yet durable before new pushes are answered
 * PushConfirm{ERROR} at once (hub --max-pending-pushes), and their bytes
 * (--max-pending-bytes). */
#define OCKAM_STREAM_PENDING_PUSHES 100000u
#define OCKAM_STREAM_PENDING_BYTES (256ull << 20)
/* Pull reads / index operations in flight in the store; beyond, pulls are
 * answered empty and index operations dropped (logged). */
#define OCKAM_STREAM_PENDING_READS 16384u
/* Reply bytes those reads may return together (each reserves a full reply
 * frame), counting the payload bytes waiting in the node's queue (where the
 * replies go); beyond, pulls are answered empty too. Bounds the memory a
 * flood of small pulls for large messages can take before the transport's
 * output budget drops the replies. */
#define OCKAM_STREAM_PENDING_READ_BYTES (8u * 1024u * 1024u)
#define OCKAM_STREAM_PENDING_INDEX_OPS 16384u
/* Long-poll pulls held at once, per stream and per hub. */
#define OCKAM_LONG_POLL_PARKED_PER_STREAM 1024u
#define OCKAM_LONG_POLL_PARKED_MAX 65536u
/* Requesters one stream keeps waiting for Init while it is being created. */
#define OCKAM_STREAM_INIT_WAITERS 1024u
/* How often a hub polls the shared registry for streams created elsewhere. */
#define OCKAM_STREAM_REGISTRY_POLL_MS 1000u
/* With a store other hubs append to as well (jetstream), an append through
 * another hub wakes no pull parked here: a parked long-poll pull reads again
 * this often until its deadline (milliseconds). */
#define OCKAM_STREAM_SHARED_RECHECK_MS 200u
/* Default: forwarders one hub keeps (hub --max-forwarders). */
#define OCKAM_HUB_MAX_FORWARDERS 10000u
/* Default: forwarders one client connection may keep (hub
 * --max-forwarders-per-connection), and how long a forwarder that carries
 * nothing lives (--forwarder-idle-timeout, seconds). */
#define OCKAM_HUB_MAX_FORWARDERS_PER_CONNECTION 64u
#define OCKAM_HUB_FORWARDER_IDLE_S 86400u
/* Default per client connection: streams it may create (beyond, stream_create
 * of a new name answers `error`; existing streams still answer Init), pulls
 * it may have in flight or held (beyond, answered empty at once), pushes not
 * yet durable (beyond, PushConfirm{ERROR}: the client retries). Hub flags
 * --max-streams-per-connection, --max-pulls-per-connection,
 * --max-pushes-per-connection. Pushes: 16 producers with the default window
 * (OCKAM_STREAM_IN_FLIGHT_MAX) on one connection fit. */
#define OCKAM_HUB_MAX_STREAMS_PER_CONNECTION 1000u
#define OCKAM_HUB_MAX_PULLS_PER_CONNECTION 4096u
#define OCKAM_HUB_MAX_PUSHES_PER_CONNECTION 32768u
/* How often the hub looks for closed connections and idle forwarders and
 * streams (milliseconds). */
#define OCKAM_HUB_SWEEP_MS 1000u
/* Default: pushes one storage commit may group. */
#define OCKAM_STORE_GROUP_MAX 4096u
/* Consumer index saves wait at most this long (milliseconds), or until this
 * many wait, before they are written, so that they do not cost a durable
 * commit each in front of pushes (src/storage/store.c). */
#define OCKAM_STORE_SAVE_DELAY_MS 50u
#define OCKAM_STORE_SAVES_MAX 256u
/* Stream client defaults. */
#define OCKAM_STREAM_PULL_LIMIT 64u
#define OCKAM_STREAM_INTERVAL_MS 100u
#define OCKAM_STREAM_RETRY_MS 1000u
#define OCKAM_STREAM_OUTBOX_MAX 100000u
/* One attempt of the stream client to open its identity channel to the hub. */
#define OCKAM_STREAM_HUB_CHANNEL_TIMEOUT_MS 10000u
/* Default wait a client asks of a long-poll capable hub (milliseconds). */
#define OCKAM_STREAM_LONG_POLL_MS 20000u
/* Default number of unconfirmed pushes a producer keeps on the wire. One
 * producer's rate is about this window per durable commit round trip, so it
 * is large; it stays within a secure channel's replay window (2,048), so
 * that pushes re-sent after a lost connection to a hub without idempotent
 * producers are never too old for a channel over the stream. */
#define OCKAM_STREAM_IN_FLIGHT_MAX 2048u

#endif
