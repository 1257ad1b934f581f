//! [`Ring`]: the merge's ready queue of source indices, a ring buffer
//! sized for every source up front, so that its operations never check
//! for room, and "the front source yielded: to the back with it" is one
//! store and one add ([`rotate`](Ring::rotate)).
//!
//! It never holds more indices than there are sources: a source is in the
//! ready queue at most once (see the `queued` flag in `ready.rs`), so
//! [`reserve_for`](Ring::reserve_for) is called with the number of sources
//! whenever one is added.
//!
//! Indices are stored as `usize`, so any index of a source (below the
//! length of the merge's `Vec` of entries) fits: no number of sources can
//! make one wrap. (They were `u32` at first, which would have wrapped
//! past 2^32 sources; measured, the wider slots cost nothing per item.)

/// A FIFO of source indices with a power-of-two capacity.
#[derive(Debug)]
pub(crate) struct Ring {
    buf: Box<[usize]>,
    /// `buf.len() - 1` (0 while `buf` is empty).
    mask: usize,
    head: usize,
    len: usize,
}

impl Ring {
    pub(crate) fn new() -> Self {
        Self {
            buf: Box::new([]),
            mask: 0,
            head: 0,
            len: 0,
        }
    }

    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Makes room for `n` indices in all (grows, keeping the order).
    pub(crate) fn reserve_for(&mut self, n: usize) {
        if n <= self.buf.len() {
            return;
        }
        let cap = n.next_power_of_two().max(4);
        let mut buf = vec![0usize; cap].into_boxed_slice();
        for (i, slot) in buf.iter_mut().take(self.len).enumerate() {
            *slot = self.buf[(self.head + i) & self.mask];
        }
        self.buf = buf;
        self.mask = cap - 1;
        self.head = 0;
    }

    /// The index at the front. The ring must not be empty.
    #[inline]
    pub(crate) fn front(&self) -> usize {
        debug_assert!(self.len != 0);
        self.buf[self.head]
    }

    #[inline]
    pub(crate) fn pop_front(&mut self) -> Option<usize> {
        if self.len == 0 {
            return None;
        }
        let index = self.buf[self.head];
        self.head = (self.head + 1) & self.mask;
        self.len -= 1;
        Some(index)
    }

    /// Adds `index` at the back; room was reserved
    /// ([`reserve_for`](Self::reserve_for)).
    #[inline]
    pub(crate) fn push_back(&mut self, index: usize) {
        debug_assert!(self.len < self.buf.len(), "room reserved for every source");
        self.buf[(self.head + self.len) & self.mask] = index;
        self.len += 1;
    }

    /// Moves the front index, `front` (from [`front`](Self::front)), to
    /// the back.
    #[inline]
    pub(crate) fn rotate(&mut self, front: usize) {
        debug_assert!(self.len != 0 && self.front() == front);
        // As `front` is in the ring, the ring is not empty, and the slot
        // after its last index is free or (ring full) the front's own.
        self.buf[(self.head + self.len) & self.mask] = front;
        self.head = (self.head + 1) & self.mask;
    }
}

impl Extend<usize> for Ring {
    fn extend<I: IntoIterator<Item = usize>>(&mut self, iter: I) {
        for index in iter {
            self.push_back(index);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Ring;

    fn drain(r: &mut Ring) -> Vec<usize> {
        std::iter::from_fn(|| r.pop_front()).collect()
    }

    #[test]
    fn rotate_moves_the_front_to_the_back_even_when_full() {
        let mut r = Ring::new();
        r.reserve_for(4);
        r.extend([0, 1, 2, 3]); // full: capacity 4
        r.rotate(r.front());
        r.rotate(r.front());
        assert_eq!(drain(&mut r), [2, 3, 0, 1]);
        r.extend([5, 6]);
        r.rotate(r.front()); // not full
        assert_eq!(drain(&mut r), [6, 5]);
    }

    /// An index past `u32::MAX` (a merge of more than 2^32 sources) comes
    /// back as it went in: no wrap.
    #[test]
    #[cfg(target_pointer_width = "64")]
    fn indices_past_u32_max_do_not_wrap() {
        let big = u32::MAX as usize + 5;
        let mut r = Ring::new();
        r.reserve_for(2);
        r.extend([big, 1]);
        r.rotate(big);
        assert_eq!(drain(&mut r), [1, big]);
    }

    #[test]
    fn growing_keeps_the_order_across_the_wrap() {
        let mut r = Ring::new();
        r.reserve_for(4);
        r.extend([0, 1, 2, 3]);
        r.rotate(r.front());
        r.rotate(r.front()); // head at 2: the contents wrap around
        r.reserve_for(5);
        r.push_back(4);
        assert_eq!(r.len(), 5);
        assert_eq!(drain(&mut r), [2, 3, 0, 1, 4]);
        assert!(r.is_empty());
    }
}
