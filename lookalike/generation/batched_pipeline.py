"""diffusers' pipelines, taking the adapter's input one row per image.

diffusers repeats ``ip_adapter_image_embeds`` for every image of the call
(it expects one identity for the whole batch): given B rows for B images, it
would feed B x B rows and each image would attend to everybody's identity.
A batch of prompts with different people needs one identity per image, so
here the given embeddings pass through as they are: B rows, or 2B under
classifier-free guidance (negatives first, as the UNet's input is ordered).
Everything else is diffusers' own pipeline: the mixin goes in front of any of
them (SD1.5 or SDXL; text-to-image, image-to-image, inpainting, ControlNet),
all of which share the one method it replaces.
"""

from __future__ import annotations

import functools


class PerImageAdapterRows:
    def prepare_ip_adapter_image_embeds(
        self, ip_adapter_image, ip_adapter_image_embeds, device, num_images_per_prompt, do_classifier_free_guidance
    ):
        if ip_adapter_image_embeds is None:
            return super().prepare_ip_adapter_image_embeds(
                ip_adapter_image, ip_adapter_image_embeds, device, num_images_per_prompt, do_classifier_free_guidance
            )
        expected = num_images_per_prompt * (2 if do_classifier_free_guidance else 1)
        for embeds in ip_adapter_image_embeds:
            if embeds.shape[0] != expected:
                raise ValueError(f"adapter input has {embeds.shape[0]} rows; this call needs one per image ({expected})")
        return [embeds.to(device=device) for embeds in ip_adapter_image_embeds]


@functools.cache
def per_image_adapter(pipeline_class: type) -> type:
    """``pipeline_class`` with ``PerImageAdapterRows`` in front (one class per diffusers class, made once)."""
    return type(f"PerImage{pipeline_class.__name__}", (PerImageAdapterRows, pipeline_class), {})
