// Package node composes the service machines of one RON node behind a
// single-threaded event loop contract.
//
// The owner (sim/ or io/) calls Step with one input at a time; Step routes it
// to the service it belongs to and runs it to completion, then drains the
// node's bus (StepDisk does the same for a DiskDone held as a value, sparing
// Step's second boxing of it). Routing:
//   - Start goes to every service, in registration order;
//   - Message goes to the service that registered the frame's OAP/1
//     app_proto_id (a frame too short to carry a header, or for an unknown
//     protocol, is dropped and counted in oap_rejects_total);
//   - TimerFired and DiskDone go back to the service that armed or
//     submitted them: each service sees an env.Env whose timer and disk tags
//     are stamped with the service's index in their top byte;
//   - Request goes to the service named in Request.Service;
//   - bus events go to every service subscribed to the topic, each through a
//     bounded queue (BusQueueDepthMax); a full queue drops the event and
//     counts it in bus_dropped_total{subscriber}.
//
// Nothing here blocks or keeps goroutines; a panic in a service propagates to
// the owner, which decides: the simulator fails the run with its seed, the
// production runtime restarts the node from durable state.
package node
