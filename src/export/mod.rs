//! Exports: a render written as files another system plays by itself,
//! rather than streamed by holdmix per call. Today that is Kamailio
//! mohqueue's looping `mohfile.<payload type>` files ([`mohqueue`]),
//! made click-free at the loop point by [`seamless`].

pub mod mohqueue;
pub mod seamless;
