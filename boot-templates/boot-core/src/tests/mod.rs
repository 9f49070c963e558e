//! Host tests on the simulated flash.

mod flows;
mod layouts;
mod power;
mod rig;
mod states;
