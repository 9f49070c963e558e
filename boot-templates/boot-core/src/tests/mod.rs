//! Host tests on the simulated flash.
