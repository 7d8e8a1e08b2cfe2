"""Phi-3-Vision image embedding: CLIP tower, 2x2-merged crop features, separators, MLP projection.

Facts followed (the hub's image_embedding_phi3_v.py, vLLM phi3v.py): features are the second-to-last CLIP
layer's output without the class token; each crop's g x g patch grid is merged 2x2 into (g/2)^2 tokens of
width 4*C; the sub-crops of an h x w grid are laid out as one (h*g/2) x (w*g/2) map with `sub_GN` appended at
the end of every row, then `glb_GN`, then the global view's (g/2) x (g/2) map, again with `sub_GN` per row
("sub_glb"); the MLP projects 4*C -> hidden -> hidden. `pixel_values[:, 0]` is the global view and
`pixel_values[:, 1:]` the sub-crops, row-major.

Differences from upstream that leave the output unchanged: blank padding crops are not encoded, CLIP layers
after the one that is read are not run, a single sub-crop holding the same pixels as its global view is
encoded once, and the projection runs once over the distinct feature rows (separators included) and the
sequence is then gathered from them with one index.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import CLIPVisionModel

from .configuration import Phi3VConfig


class CLIPTower(nn.Module):
    """Holds transformers' CLIPVisionModel under `vision_model`, so parameter names read
    `img_processor.vision_model.embeddings...` as in the published checkpoint (transformers 5 dropped that
    level inside CLIPVisionModel itself)."""

    def __init__(self, config: Phi3VConfig):
        super().__init__()
        self.vision_model = CLIPVisionModel(config.vision_config)


class Phi3VImageEmbedding(nn.Module):
    """Turns HD-transformed pixel crops into the projected image-token sequence the decoder reads."""

    def __init__(self, config: Phi3VConfig):
        super().__init__()
        vision = config.vision_config
        self.crop_size = vision.image_size
        self.grid = vision.image_size // vision.patch_size  # patches per side of one crop
        self.merged = self.grid // 2  # merged tokens per side of one crop
        width = 4 * vision.hidden_size  # 2x2 patches concatenated along channels
        self.img_processor = CLIPTower(config)
        self.glb_GN = nn.Parameter(torch.zeros(1, 1, width))
        self.sub_GN = nn.Parameter(torch.zeros(1, 1, 1, width))
        self.img_projection = nn.Sequential(
            nn.Linear(width, config.hidden_size), nn.GELU(), nn.Linear(config.hidden_size, config.hidden_size)
        )
        n_layers = vision.num_hidden_layers
        layer_idx = config.vision_layer_idx
        # hidden_states[k] is layer k's output (0: embeddings after pre_layrnorm); only those read are run.
        self.num_layers_used = layer_idx + n_layers + 1 if layer_idx < 0 else layer_idx
        if not 0 <= self.num_layers_used <= n_layers:
            raise ValueError(
                f"img_processor.layer_idx={layer_idx} is out of range for {n_layers} CLIP layers"
            )
        # Never read, so never trained: frozen so optimizers and DDP see no parameters without gradients.
        vm = self.img_processor.vision_model
        vm.post_layernorm.requires_grad_(False)
        for layer in vm.encoder.layers[self.num_layers_used :]:
            layer.requires_grad_(False)

    def num_image_tokens(self, h_crops: int, w_crops: int) -> int:
        """Tokens for an image padded to h_crops x w_crops crops: (h*w + 1)*m^2 + 1 + (h + 1)*m, m = g/2."""
        m = self.merged
        return (h_crops * w_crops + 1) * m * m + 1 + (h_crops + 1) * m

    def encode_crops(self, crops: torch.Tensor) -> torch.Tensor:
        """(N, 3, c, c) pixels -> (N, g*g, C) features of the selected CLIP layer, class token dropped."""
        vm = self.img_processor.vision_model
        hidden = vm.pre_layrnorm(vm.embeddings(crops))
        for layer in vm.encoder.layers[: self.num_layers_used]:
            hidden = layer(hidden, None)
        return hidden[:, 1:]

    def forward(self, pixel_values: torch.Tensor, image_sizes: torch.Tensor) -> torch.Tensor:
        """Image features for all images, concatenated in order.

        Args:
            pixel_values: (n_images, max_crops + 1, 3, c, c); [:, 0] global view, then sub-crops row-major,
                then blank padding crops.
            image_sizes: (n_images, 2) padded (height, width) in pixels, multiples of c.

        Returns:
            (sum of num_image_tokens over images, hidden_size) projected features.
        """
        max_crops = pixel_values.shape[1]
        sizes = image_sizes.to(device="cpu", dtype=torch.long).reshape(-1, 2).tolist()
        if len(sizes) != pixel_values.shape[0]:
            raise ValueError(f"{pixel_values.shape[0]} images in pixel_values but {len(sizes)} image_sizes")
        h_crops = [h // self.crop_size for h, _ in sizes]
        w_crops = [w // self.crop_size for _, w in sizes]
        used = [1 + h * w for h, w in zip(h_crops, w_crops, strict=True)]
        if max(used) > max_crops:
            raise ValueError(f"image_sizes {sizes} need {max(used)} crops but pixel_values holds {max_crops}")
        # Blank padding crops are dropped: an index built on the host, so no device sync.
        keep = torch.cat([torch.arange(n) + i * max_crops for i, n in enumerate(used)])
        crops = pixel_values.flatten(0, 1).index_select(0, keep.to(pixel_values.device))  # (n_used, 3, c, c)
        proj_dtype = self.img_projection[0].weight.dtype
        feats = self._encode_distinct(crops.to(proj_dtype), h_crops, w_crops, used)  # (n_used, g*g, C)

        n_used = feats.shape[0]
        merged = self._merge(feats).flatten(0, 1)  # (n_used * m * m, 4C)
        bank = torch.cat(
            [merged, self.sub_GN.reshape(1, -1).to(merged.dtype), self.glb_GN.reshape(1, -1).to(merged.dtype)]
        )
        projected = self.img_projection(bank)
        index = self._layout_index(h_crops, w_crops, used, n_used).to(projected.device)
        return projected[index]

    def _merge(self, feats: torch.Tensor) -> torch.Tensor:
        """2x2 merge of each crop's patch grid: (n, g*g, C) -> (n, m*m, 4C), row-major, m = g/2."""
        n, _, channels = feats.shape
        m = self.merged
        # (n, g, g, C) -> (n, m, 2, m, 2, C) -> (n, m, m, 2, 2, C) -> (n, m*m, 4C)
        grid = feats.reshape(n, m, 2, m, 2, channels).permute(0, 1, 3, 2, 4, 5)
        return grid.reshape(n, m * m, 4 * channels)

    def project_crops(self, crops: torch.Tensor) -> torch.Tensor:
        """(N, 3, c, c) pixels -> (N, m*m, hidden) the image tokens the decoder reads for each crop, in its
        merged grid, without the separators."""
        return self.img_projection(self._merge(self.encode_crops(crops)))

    def _encode_distinct(
        self, crops: torch.Tensor, h_crops: list[int], w_crops: list[int], used: list[int]
    ) -> torch.Tensor:
        """``encode_crops`` of every used crop, where an image's single sub-crop holds the same pixels as its
        global view (a square image at the crop size, as the tiny default sees its images) encoded once and
        its features used twice: the same output, half the CLIP work for such images."""
        starts = torch.tensor([0, *used[:-1]]).cumsum(0)
        single = [i for i, (h, w) in enumerate(zip(h_crops, w_crops, strict=True)) if h == w == 1]
        dropout = self.img_processor.vision_model.config.attention_dropout
        if not single or (self.training and dropout > 0):  # with dropout, two passes differ
            return self.encode_crops(crops)
        glb = starts[single]
        on_device = glb.to(crops.device)
        same = (crops.index_select(0, on_device) == crops.index_select(0, on_device + 1)).flatten(1).all(1)
        repeated = glb[same.cpu()]  # global views whose sub-crop repeats them
        if not len(repeated):
            return self.encode_crops(crops)
        source = torch.arange(len(crops))  # the crop whose features each crop takes
        source[repeated + 1] = repeated
        encoded = source == torch.arange(len(crops))
        slot = encoded.long().cumsum(0) - 1  # row of each encoded crop among the encoded ones
        feats = self.encode_crops(crops[encoded.to(crops.device)])
        return feats.index_select(0, slot[source].to(feats.device))

    def _layout_index(
        self, h_crops: list[int], w_crops: list[int], used: list[int], n_used: int
    ) -> torch.Tensor:
        """Row of the feature bank for each image token, in sequence order (built per image, not token)."""
        m = self.merged
        per_crop = m * m
        sub_sep, glb_sep = n_used * per_crop, n_used * per_crop + 1
        pieces = []
        first_crop = 0  # bank crop index of this image's global view
        for h, w, n in zip(h_crops, w_crops, used, strict=True):
            rows = torch.arange(h * m)[:, None]  # merged-token row in the stitched sub-crop map
            cols = torch.arange(w * m)[None, :]
            crop = first_crop + 1 + (rows // m) * w + cols // m
            sub = crop * per_crop + (rows % m) * m + cols % m  # (h*m, w*m)
            sub = torch.cat([sub, torch.full((h * m, 1), sub_sep)], dim=1).reshape(-1)
            glb = first_crop * per_crop + torch.arange(per_crop).reshape(m, m)
            glb = torch.cat([glb, torch.full((m, 1), sub_sep)], dim=1).reshape(-1)
            pieces += [sub, torch.tensor([glb_sep]), glb]
            first_crop += n
        return torch.cat(pieces)
