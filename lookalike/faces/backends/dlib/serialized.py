"""Reading dlib's serialization format (dlib/serialize.h, dlib/dnn/core.h, layers.h).

- An integer is a control byte (low 4 bits: byte count, bit 0x80: negative)
  followed by that many little-endian bytes. A string is its length as such
  an integer, then its bytes. A bool is the character '0' or '1'.
- A float (outside tensors) is an integer mantissa and an integer exponent,
  value = mantissa * 2**exponent; exponents 32000/32001/32002 mean +inf,
  -inf and NaN.
- A tensor (version 2) is its four dimensions as integers and then raw
  little-endian float32 data; version 1 wrote each value as a float as above.

Every malformed read is a ModelIntegrityError naming the byte offset.
"""

from __future__ import annotations

import math

import numpy as np

from lookalike.errors import ModelIntegrityError

_IS_INF, _IS_NINF, _IS_NAN = 32000, 32001, 32002


class DlibReader:
    def __init__(self, data: bytes) -> None:
        self.data = memoryview(data)
        self.pos = 0

    @property
    def at_end(self) -> bool:
        return self.pos == len(self.data)

    def fail(self, what: str) -> ModelIntegrityError:
        return ModelIntegrityError(
            f"Cannot read dlib's face descriptor network: {what} (at byte {self.pos}).",
            hint="The file dlib_face_recognition_resnet_model_v1.dat is damaged or not the "
            "network this converter knows; reinstall face-recognition-models.",
        )

    def take(self, n: int) -> memoryview:
        if n < 0 or self.pos + n > len(self.data):
            raise self.fail(f"the file ends early (wanted {n} more bytes)")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def int(self) -> int:
        ctrl = self.take(1)[0]
        if ctrl & 0x70:
            raise self.fail(f"bad integer control byte 0x{ctrl:02x}")
        size = ctrl & 0x0F
        if size > 8:
            raise self.fail(f"integer of {size} bytes")
        value = int.from_bytes(self.take(size), "little") if size else 0
        return -value if ctrl & 0x80 else value

    def string(self, limit: int = 256) -> str:
        size = self.int()
        if not 0 <= size <= limit:
            raise self.fail(f"implausible string length {size}")
        raw = bytes(self.take(size))
        try:
            return raw.decode("ascii")
        except UnicodeDecodeError:
            raise self.fail("a layer name that is not text") from None

    def bool(self) -> bool:
        ch = self.take(1)[0]
        if ch not in (0x30, 0x31):
            raise self.fail(f"bad bool byte 0x{ch:02x}")
        return ch == 0x31

    def float(self) -> float:
        if self.pos < len(self.data) and self.data[self.pos] & 0x70:
            raise self.fail("an old text-format float")
        mantissa = self.int()
        exponent = self.int()
        if exponent == _IS_INF:
            return math.inf
        if exponent == _IS_NINF:
            return -math.inf
        if exponent == _IS_NAN:
            return math.nan
        return math.ldexp(float(mantissa), exponent)

    def tensor(self) -> np.ndarray:
        version = self.int()
        if version not in (1, 2):
            raise self.fail(f"tensor version {version}")
        shape = tuple(self.int() for _ in range(4))
        if any(d < 0 for d in shape):
            raise self.fail(f"negative tensor shape {shape}")
        count = math.prod(shape)
        if version == 2:
            raw = self.take(4 * count)
            values = np.frombuffer(raw, dtype="<f4").astype(np.float32)
        else:
            values = np.array([self.float() for _ in range(count)], dtype=np.float32)
        return values.reshape(shape)

    def alias_tensor(self) -> tuple[int, int, int, int]:
        version = self.int()
        if version != 1:
            raise self.fail(f"alias_tensor version {version}")
        return tuple(self.int() for _ in range(4))

    def expect_version(self, allowed: tuple[int, ...], what: str) -> int:
        version = self.int()
        if version not in allowed:
            raise self.fail(f"{what} has version {version}, expected one of {allowed}")
        return version
