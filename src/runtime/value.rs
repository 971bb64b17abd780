//! (value enum — being written)
