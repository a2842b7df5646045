"""ResNets for CIFAR-style inputs (He, Zhang, Ren and Sun, "Deep Residual Learning for Image
Recognition", CVPR 2016, section 4.2), written the way torchvision writes its ResNets so the
module names, and so the ``state_dict`` keys, are the ones a torchvision-style model has:
``conv1, bn1, layer1..layer3 (blocks with conv1, bn1, conv2, bn2[, conv3, bn3], downsample.0/1),
fc``.

The CIFAR network: a 3x3 conv with 16 filters on the 32x32 input, then three stages of n blocks
each on 32x32, 16x16 and 8x8 feature maps with 16, 32 and 64 filters (the first block of stages
2 and 3 halves the map with stride 2), global average pooling and a linear classifier:
6n + 2 weighted layers (ResNet-20/32/56/110 for n = 3/5/9/18). Shortcuts are identities, and a
projection (1x1 conv + BatchNorm, the paper's option "B") where the shape changes; the paper's
CIFAR numbers use option "A" (zero padding, no parameters), which makes our counts a few
thousand parameters larger (ResNet-20: 272,474 here against 0.27M).

``residual=False`` builds the "plain" twin of the paper's Fig. 6 (left): the same layers
without the shortcuts (and so without projections).

The same source runs on PyTorch: this file only uses names that ``torch.nn`` also has, through
the global ``nn``. Imported normally it is ``minidl.nn``; ``minidl.models.build(torch.nn)``
executes this very file with ``nn = torch.nn`` injected (see ``minidl/models/__init__.py``), which is
how tests compare parameter counts, shapes and state_dict keys with PyTorch.
"""
if "nn" not in globals():  # build(torch.nn) injects its own `nn` before running this file
    from minidl import nn

__all__ = ["BasicBlock", "Bottleneck", "ResNet", "resnet", "plain_resnet",
           "resnet20", "resnet32", "resnet44", "resnet56", "resnet110"]


def conv3x3(in_planes, out_planes, stride=1):
    """3x3 convolution with padding (no bias: a BatchNorm follows)."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


def conv1x1(in_planes, out_planes, stride=1):
    """1x1 convolution (projection shortcuts, bottleneck reductions)."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


# --8<-- [start:basic_block]
class BasicBlock(nn.Module):
    """Two 3x3 convs: relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))."""

    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None, residual=True):
        super().__init__()
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU()
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.stride = stride
        self.residual = residual

    def forward(self, x):
        identity = x

        out = self.conv1(x)
        out = self.bn1(out)
        out = self.relu(out)

        out = self.conv2(out)
        out = self.bn2(out)

        if self.residual:
            if self.downsample is not None:
                identity = self.downsample(x)
            out = out + identity
        out = self.relu(out)
        return out
# --8<-- [end:basic_block]


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3, 1x1 expand (x4), plus the shortcut (torchvision's v1.5: the stride sits
    on the 3x3 conv)."""

    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None, residual=True):
        super().__init__()
        self.conv1 = conv1x1(inplanes, planes)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = conv1x1(planes, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU()
        self.downsample = downsample
        self.stride = stride
        self.residual = residual

    def forward(self, x):
        identity = x

        out = self.conv1(x)
        out = self.bn1(out)
        out = self.relu(out)

        out = self.conv2(out)
        out = self.bn2(out)
        out = self.relu(out)

        out = self.conv3(out)
        out = self.bn3(out)

        if self.residual:
            if self.downsample is not None:
                identity = self.downsample(x)
            out = out + identity
        out = self.relu(out)
        return out


class ResNet(nn.Module):
    """``ResNet(block, layers, num_classes=10, in_channels=3, width=16, residual=True,
    zero_init_residual=False)``: a 3x3 stem with ``width`` filters, then ``len(layers)``
    stages (``layer1``, ``layer2``, ...) of ``layers[i]`` blocks with ``width * 2**i`` planes
    (stride 2 at the start of every stage but the first), global average pooling and ``fc``.
    Initialisation as torchvision: Kaiming-normal (fan_out, relu) convs, BatchNorm weight 1
    and bias 0, PyTorch's default Linear init; ``zero_init_residual`` zeroes the last
    BatchNorm weight of every block so each block starts as the identity."""

    def __init__(self, block, layers, num_classes=10, in_channels=3, width=16, residual=True,
                 zero_init_residual=False):
        super().__init__()
        self.residual = residual
        self.inplanes = width
        self.conv1 = nn.Conv2d(in_channels, width, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU()
        self.num_stages = len(layers)
        for i, blocks in enumerate(layers):
            stage = self._make_layer(block, width * 2 ** i, blocks, stride=1 if i == 0 else 2)
            setattr(self, f"layer{i + 1}", stage)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(self.inplanes, num_classes)

        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, Bottleneck):
                    nn.init.constant_(m.bn3.weight, 0)
                elif isinstance(m, BasicBlock):
                    nn.init.constant_(m.bn2.weight, 0)

    # --8<-- [start:make_layer]
    def _make_layer(self, block, planes, blocks, stride=1):
        downsample = None
        if self.residual and (stride != 1 or self.inplanes != planes * block.expansion):
            downsample = nn.Sequential(
                conv1x1(self.inplanes, planes * block.expansion, stride),
                nn.BatchNorm2d(planes * block.expansion),
            )
        layers = [block(self.inplanes, planes, stride, downsample, residual=self.residual)]
        self.inplanes = planes * block.expansion
        for _ in range(1, blocks):
            layers.append(block(self.inplanes, planes, residual=self.residual))
        return nn.Sequential(*layers)
    # --8<-- [end:make_layer]

    def forward(self, x):
        x = self.conv1(x)
        x = self.bn1(x)
        x = self.relu(x)

        for i in range(self.num_stages):
            x = getattr(self, f"layer{i + 1}")(x)

        x = self.avgpool(x)
        x = x.flatten(1)
        x = self.fc(x)
        return x


def _blocks_per_stage(depth, bottleneck):
    per_block, name = (9, "9n+2") if bottleneck else (6, "6n+2")
    if not isinstance(depth, int) or depth < per_block + 2 or (depth - 2) % per_block:
        raise ValueError(f"a CIFAR ResNet with {'Bottleneck' if bottleneck else 'BasicBlock'} blocks has depth "
                         f"{name} (e.g. {'29, 56, 110, 164' if bottleneck else '20, 32, 44, 56, 110'}), got {depth}")
    return (depth - 2) // per_block


def resnet(depth, num_classes=10, in_channels=3, residual=True, bottleneck=False, **kwargs):
    """The CIFAR ResNet of the given depth: 6n+2 with BasicBlocks (20, 32, 44, 56, 110, ...),
    or 9n+2 with ``bottleneck=True``; three stages of 16/32/64 planes. ``residual=False`` gives
    the plain twin; other keyword arguments go to :class:`ResNet` (``width``,
    ``zero_init_residual``)."""
    n = _blocks_per_stage(depth, bottleneck)
    block = Bottleneck if bottleneck else BasicBlock
    return ResNet(block, [n, n, n], num_classes=num_classes, in_channels=in_channels, residual=residual, **kwargs)


def plain_resnet(depth, num_classes=10, in_channels=3, **kwargs):
    """The "plain" network of the same depth: ``resnet(depth, ..., residual=False)``."""
    return resnet(depth, num_classes=num_classes, in_channels=in_channels, residual=False, **kwargs)


def resnet20(**kwargs):
    return resnet(20, **kwargs)


def resnet32(**kwargs):
    return resnet(32, **kwargs)


def resnet44(**kwargs):
    return resnet(44, **kwargs)


def resnet56(**kwargs):
    return resnet(56, **kwargs)


def resnet110(**kwargs):
    return resnet(110, **kwargs)
