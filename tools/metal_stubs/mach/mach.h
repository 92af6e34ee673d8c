// Stub: the Mach types metal-cpp names (ports, task tokens, return codes).
#pragma once
typedef unsigned int mach_port_t;
typedef mach_port_t task_id_token_t;
typedef int kern_return_t;
