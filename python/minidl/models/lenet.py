"""LeNet-5-style CNN (LeCun et al. 1998, with ReLU and max pooling as it is usually taught
today): conv(5x5, 6) - relu - maxpool(2) - conv(5x5, 16) - relu - maxpool(2) - flatten -
linear(120) - relu - linear(84) - relu - linear(num_classes).

The first conv pads by 2, so a 28x28 MNIST/Fashion-MNIST image gives the 28x28 map the
original 32x32 input gave (16 * 5 * 5 = 400 features into the classifier, 61,706 parameters
for 1x28x28 and 10 classes). ``in_channels`` and ``input_size`` (square side) are
configurable; the classifier's input width follows from them.

Module names: ``features.0`` (conv1), ``features.3`` (conv2), ``classifier.1/3/5`` (linear
layers), like torchvision's AlexNet/VGG. Like ``resnet.py``, this file runs on PyTorch too
(``minidl.models.build(torch.nn)``).
"""
if "nn" not in globals():  # build(torch.nn) injects its own `nn` before running this file
    from minidl import nn

__all__ = ["LeNet"]


class LeNet(nn.Module):
    def __init__(self, num_classes=10, in_channels=1, input_size=28):
        super().__init__()
        side = (input_size + 2 * 2 - 5 + 1) // 2  # conv1 (padding 2), pool
        side = (side - 5 + 1) // 2                # conv2, pool
        if side < 1:
            raise ValueError(f"LeNet needs input_size >= 12 (two 5x5 convs and two 2x2 pools), got {input_size}")
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, kernel_size=5, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(kernel_size=2, stride=2),
            nn.Conv2d(6, 16, kernel_size=5),
            nn.ReLU(),
            nn.MaxPool2d(kernel_size=2, stride=2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(16 * side * side, 120),
            nn.ReLU(),
            nn.Linear(120, 84),
            nn.ReLU(),
            nn.Linear(84, num_classes),
        )

    def forward(self, x):
        x = self.features(x)
        x = self.classifier(x)
        return x

